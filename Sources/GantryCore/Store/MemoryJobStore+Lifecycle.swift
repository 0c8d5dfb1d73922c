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

    public func requestSetSucceeded(_ params: RequestSucceededParams) async throws -> Bool {
        finish(params.fence, to: .succeeded, result: params.result, errorMessage: nil, errorType: nil,
               inferenceTime: params.inferenceTime, now: params.now)
    }

    public func requestSetFailed(_ params: RequestFailedParams) async throws -> Bool {
        finish(params.fence, to: .failed, result: params.result, errorMessage: params.errorMessage,
               errorType: params.errorType, inferenceTime: params.inferenceTime, now: params.now)
    }

    public func requestSetCancelled(_ params: RequestCancelledParams) async throws -> Bool {
        finish(params.fence, to: .cancelled, result: params.result, errorMessage: "Request was cancelled",
               errorType: "request_cancelled", inferenceTime: params.inferenceTime, now: params.now)
    }

    /// The one terminal transition of a running attempt, under its fence (private: callers pick a typed one).
    private func finish(
        _ fence: LeaseFence, to state: RequestState, result: RequestResult, errorMessage: String?, errorType: String?,
        inferenceTime: Double?, now: Date
    ) -> Bool {
        withTables { tables in
            guard let row = tables.rows[fence.requestID], row.holds(fence) else { return false }
            tables.update(fence.requestID, to: state) { record in
                record.result = result
                record.errorMessage = errorMessage
                record.errorType = errorType
                record.inferenceTime = inferenceTime
                record.finishedAt = now
            }
            return true
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
