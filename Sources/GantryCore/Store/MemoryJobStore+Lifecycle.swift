import Foundation

/// The in-memory store's claims and fenced transitions of running attempts; the same guards as the SQL stores.
extension MemoryJobStore {
    public func requestClaim(_ params: RequestClaimParams) async throws -> [RequestRecord] {
        withTables { tables in
            tables.claimCalls += 1
            return tables.claim(params)
        }
    }

    /// How many times `requestClaim` was called (a dispatcher test bounds it).
    public var claimCallCount: Int { withTables { $0.claimCalls } }

    public func requestHeartbeat(_ params: [RequestHeartbeatParams]) async throws -> [HeartbeatOutcome] {
        withTables { tables in
            params.map { item in
                guard let row = tables.rows[item.fence.requestID], row.holds(item.fence) else { return .lost }
                tables.rows[item.fence.requestID]?.record.leaseExpiresAt = item.leaseExpiresAt
                return .renewed(cancelRequested: row.record.cancelRequested)
            }
        }
    }

    public func requestFinish(_ update: TerminalUpdate) async throws -> RequestRecord? {
        withTables { tables in
            guard let row = tables.rows[update.fence.requestID], row.holds(update.fence) else { return nil }
            tables.update(update.fence.requestID, to: update.state) { record in
                record.result = update.result
                record.errorMessage = update.errorMessage
                record.errorType = update.errorType
                record.inferenceTime = update.inferenceTime
                record.finishedAt = update.now
            }
            return tables.rows[update.fence.requestID]?.record
        }
    }

    public func requestCancel(id: String, now: Date) async throws -> CancelOutcome {
        withTables { tables in
            guard let row = tables.rows[id] else { return .notFound }
            switch row.record.state {
            case .queued:
                tables.update(id, to: .cancelled) { $0.finishedAt = now }
                return .cancelled
            case .running:
                tables.rows[id]?.record.cancelRequested = true
                return .cancelRequested
            case .succeeded, .failed, .cancelled, .expired:
                return .alreadyCompleted
            }
        }
    }

    public func requestRelease(_ params: RequestReleaseParams) async throws -> Bool {
        withTables { tables in
            guard let row = tables.rows[params.fence.requestID], row.holds(params.fence) else { return false }
            if row.record.cancelRequested {
                tables.update(params.fence.requestID, to: .cancelled) { Tables.endCancelled(&$0, now: params.now) }
            } else {
                tables.update(params.fence.requestID, to: .queued) { $0.attempt -= 1 }
            }
            return true
        }
    }

    public func requestListRunning(functionIDs: [String]) async throws -> [RunningAttempt] {
        let wanted = Set(functionIDs)
        return withTables { tables in
            tables.running.compactMap { tables.rows[$0] }
                .filter { wanted.contains($0.record.functionID) }
                .sorted { $0.seq < $1.seq }
                .map { row in
                    let record = row.record
                    return RunningAttempt(id: record.id, tenant: record.tenant, functionID: record.functionID, attempt: record.attempt,
                                          leaseOwner: record.leaseOwner, startedAt: record.startedAt, cancelRequested: record.cancelRequested)
                }
        }
    }

    public func functionRegistrationUpsert(_ registration: FunctionRegistration) async throws -> Bool {
        withTables { tables in
            let changed = tables.registrations[registration.functionID]?.declaration != registration.declaration
            tables.registrations[registration.functionID] = registration
            return changed
        }
    }

    public func functionRegistrationList() async throws -> [FunctionRegistration] {
        withTables { $0.registrations.values.sorted { $0.functionID < $1.functionID } }
    }

    public func functionRegistrationDelete(functionID: String) async throws -> Bool {
        withTables { $0.registrations.removeValue(forKey: functionID) != nil }
    }
}
