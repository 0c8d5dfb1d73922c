import Egress
import Foundation
import GantryCore
import Logging
import Metrics

/// Fetches function inputs through libcurl under the egress policy, and counts the bytes it brings in.
public struct EgressFetcher: InputFetcher {
    let client: EgressClient

    /// - Parameter allowEgress: CIDR ranges exempt from the policy's refusals (`--allow-egress`).
    public init(allowEgress: [String], limits: EgressLimits = .init(), logger: Logger) throws {
        var ranges: [IPRange] = []
        for cidr in allowEgress {
            guard let range = IPRange(cidr: cidr) else { throw ConfigurationError("--allow-egress: \(cidr) is not a CIDR range") }
            ranges.append(range)
        }
        client = EgressClient(policy: EgressPolicy(allowedRanges: ranges), limits: limits, logger: logger)
    }

    public func fetch(_ url: String) async throws -> FetchedInput {
        try await fetch(url, maxBytes: nil)
    }

    /// Fetches under `maxBytes` instead of the client's default cap when given.
    public func fetch(_ url: String, maxBytes: Int?) async throws -> FetchedInput {
        do {
            let resource = try await client.fetch(url, maxBytes: maxBytes)
            Counter(label: "gantry_egress_bytes_total").increment(by: resource.data.count)
            return FetchedInput(data: resource.data, contentType: resource.contentType)
        } catch let error as EgressError {
            throw InputFetchError(code: error.code.rawValue, message: error.message)
        }
    }
}
