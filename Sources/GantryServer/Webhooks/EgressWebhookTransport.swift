import Egress
import Foundation
import GantryCore

/// Sends webhook POSTs through libcurl under the egress policy: the destination is resolved and checked at send
/// time (a name re-pointed at a private address since submit is refused), redirects are never followed.
struct EgressWebhookTransport: WebhookTransport {
    let client: EgressClient

    func post(url: String, headers: [(String, String)], body: Data, timeout: TimeInterval) async -> WebhookSendResult {
        do {
            let reply = try await client.send(method: "POST", url: url, headers: headers, body: body, timeout: timeout)
            return .response(status: reply.status, headers: reply.headers)
        } catch let error as EgressError {
            switch error.code {
            case .forbiddenAddress, .forbiddenScheme, .credentialsInURL, .invalidURL: return .refused(error.message)
            default: return .failed(error.message)
            }
        } catch {
            return .failed("\(error)")
        }
    }
}

/// The submit-time check of a webhook URL: its scheme, form and resolved addresses under the egress policy.
struct WebhookURLCheck: Sendable {
    let client: EgressClient

    /// Throws a 422 naming `field` when the URL is malformed or the policy refuses it. A name that does not resolve
    /// now is accepted (DNS can recover before the request finishes; the send re-checks).
    func check(_ url: String, field: [String]) async throws {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw APIError.field(field, "Webhook URL must be an http or https URL", type: "value_error")
        }
        do {
            try await client.checkURL(url)
        } catch let error as EgressError {
            switch error.code {
            case .dnsFailure, .timeout, .connectFailed, .transport: return
            default: throw APIError.field(field, "Webhook URL is not allowed: \(error.message)", type: error.code.rawValue)
            }
        }
    }
}
