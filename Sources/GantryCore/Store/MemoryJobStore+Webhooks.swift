import Foundation

/// The webhook outbox of the in-memory store; the same guards as the SQL stores.
extension MemoryJobStore {
    public func webhookClaimDue(_ params: WebhookClaimParams) async throws -> [WebhookDelivery] {
        withTables { tables in
            let due = tables.deliveries.values
                .filter { delivery in
                    delivery.state == .pending && !params.excludingHosts.contains(delivery.host)
                        && (delivery.nextAttemptAt.map { $0 <= params.now } ?? false)
                        && (delivery.leaseExpiresAt.map { $0 < params.now } ?? true)
                }
                .sorted { ($0.nextAttemptAt!, $0.requestID) < ($1.nextAttemptAt!, $1.requestID) }
                .prefix(max(params.limit, 0))
            return due.map { delivery in
                var claimed = delivery
                claimed.leaseOwner = params.owner
                claimed.leaseExpiresAt = params.now.addingTimeInterval(params.leaseDuration)
                tables.deliveries[delivery.requestID] = claimed
                return claimed
            }
        }
    }

    public func webhookRecordAttempt(_ params: WebhookAttemptParams) async throws -> Bool {
        withTables { tables in
            guard var delivery = tables.deliveries[params.requestID], delivery.state == .pending,
                  delivery.attempts == params.attempt - 1, delivery.leaseOwner == params.owner else { return false }
            delivery.attempts = params.attempt
            delivery.lastStatus = params.status
            delivery.lastError = params.error
            delivery.leaseOwner = nil
            delivery.leaseExpiresAt = nil
            switch params.next {
            case .delivered, .failed:
                delivery.state = params.next == .delivered ? .delivered : .failed
                delivery.nextAttemptAt = nil
                delivery.finishedAt = params.now
            case .retry(let at):
                delivery.nextAttemptAt = at
            }
            tables.deliveries[params.requestID] = delivery
            if let log = params.log, tables.rows[params.requestID] != nil { tables.logs[params.requestID, default: []].append(log) }
            return true
        }
    }

    public func webhookRelease(_ params: WebhookReleaseParams) async throws {
        withTables { tables in
            let ids = params.requestIDs ?? Array(tables.deliveries.keys)
            for id in ids {
                guard let delivery = tables.deliveries[id], delivery.state == .pending, delivery.leaseOwner != nil,
                      params.owner == nil || delivery.leaseOwner == params.owner else { continue }
                tables.deliveries[id]?.leaseOwner = nil
                tables.deliveries[id]?.leaseExpiresAt = nil
            }
        }
    }

    public func webhookGet(requestID: String) async throws -> WebhookDelivery? {
        withTables { $0.deliveries[requestID] }
    }

    public func webhookCounts() async throws -> [WebhookDeliveryState: Int] {
        withTables { tables in
            tables.deliveries.values.reduce(into: [:]) { counts, delivery in counts[delivery.state, default: 0] += 1 }
        }
    }
}
