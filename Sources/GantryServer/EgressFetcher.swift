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
        do {
            let resource = try await client.fetch(url)
            Counter(label: "gantry_egress_bytes_total").increment(by: resource.data.count)
            return FetchedInput(data: resource.data, contentType: resource.contentType)
        } catch let error as EgressError {
            throw InputFetchError(code: error.code.rawValue, message: error.message)
        }
    }
}
