import Foundation
import Logging
import Metrics

extension Dispatcher {
    /// Runs one claimed attempt to its end and records the outcome with a guarded transition.
    func execute(_ record: RequestRecord, function: RegisteredFunction) async {
        var requestLogger = self.logger
        requestLogger[metadataKey: "request_id"] = "\(record.id)"
        requestLogger[metadataKey: "function"] = "\(function.id)"
        requestLogger[metadataKey: "attempt"] = "\(record.attempt)"
        let logger = requestLogger
        let control = RunControl()
        register(RunningEntry(id: record.id, attempt: record.attempt, control: control))
        defer { unregister(record.id) }
        notifier.publish(record.id)

        let started = configuration.now()
        let context = RunContext(
            requestID: record.id, functionID: function.id, tenant: record.tenant, attempt: record.attempt,
            syncMode: Self.syncMode(of: record.input), deadline: started.addingTimeInterval(function.manifest.timeoutSeconds),
            logger: logger,
            reporter: StoreReporter(store: store, notifier: notifier, requestID: record.id, attempt: record.attempt, maxLines: configuration.maxLogLinesPerAttempt, logger: logger),
            fetcher: environment.fetcher, files: environment.files, publicURL: environment.publicURL.string,
            naming: environment.naming, now: configuration.now)
        logger.info("running")
        // A cancel that arrived while a previous attempt's runner was dying survives the rescue; honour it now.
        if record.cancelRequested { control.stop(.user) }

        let outcome = await FunctionRunner.run(function, input: record.input, context: context, control: control, deadlines: deadlines)
        let elapsed = configuration.now().timeIntervalSince(started)
        await recordOutcome(outcome, for: record, function: function, elapsed: elapsed, logger: logger)
        notifier.publish(record.id)
    }

    /// Renews the lease of one running attempt; a requested cancel or a lost lease stops it.
    func heartbeat(_ entry: RunningEntry) async {
        do {
            let outcome = try await store.requestHeartbeat(RequestHeartbeatParams(
                id: entry.id, attempt: entry.attempt, leaseExpiresAt: configuration.now().addingTimeInterval(configuration.leaseDuration)))
            switch outcome {
            case .renewed(let cancelRequested): if cancelRequested { entry.control.stop(.user) }
            case .lost:
                logger.warning("lease lost; abandoning this attempt", metadata: ["request_id": "\(entry.id)"])
                entry.control.stop(.leaseLost)
            }
        } catch {
            logger.error("heartbeat failed", metadata: ["request_id": "\(entry.id)", "error": "\(error)"])
        }
    }

    private func recordOutcome(_ outcome: RunOutcome, for record: RequestRecord, function: RegisteredFunction, elapsed: Double, logger: Logger) async {
        let now = configuration.now()
        var params = RequestFinishParams(id: record.id, attempt: record.attempt, state: .failed, result: nil, inferenceTime: elapsed, now: now)
        switch outcome {
        case .succeeded(let body):
            params.state = .succeeded
            params.result = RequestResult(status: 200, body: body)
        case .failed(let error):
            params.result = RequestResult(status: error.status, body: error.body())
            params.errorMessage = error.message
            params.errorType = error.errorType
        case .stopped(.user):
            params.state = .cancelled
            params.result = RequestResult(status: 400, body: FunctionError(status: 400, errorType: "request_cancelled", detail: .message("Request was cancelled")).body())
            params.errorMessage = "Request was cancelled"
            params.errorType = "request_cancelled"
        case .stopped(.timeout):
            let error = FunctionError(status: 504, errorType: "request_timeout", detail: .message("Request timed out after \(Int(function.manifest.timeoutSeconds)) s"))
            params.result = RequestResult(status: error.status, body: error.body())
            params.errorMessage = error.message
            params.errorType = error.errorType
        case .stopped(.shutdown):
            let released = (try? await store.requestRelease(id: record.id, attempt: record.attempt)) ?? false
            logger.notice(released ? "released to the queue at shutdown" : "could not release at shutdown; the sweeper will rescue it")
            return
        case .stopped(.leaseLost):
            logger.warning("attempt lost its lease; its outcome is discarded")
            return
        }
        do {
            if try await store.requestFinish(params) {
                RuntimeMetrics.shared.finished(function.id, params.state).increment()
                RuntimeMetrics.shared.runDuration(function.id).recordSeconds(elapsed)
                logger.info("finished", metadata: ["state": "\(params.state.rawValue)", "seconds": "\(String(format: "%.3f", elapsed))"])
            } else {
                logger.warning("finish lost: the request moved on while this attempt ran")
            }
        } catch {
            logger.error("could not record the outcome; the sweeper will retry the request", metadata: ["error": "\(error)"])
        }
    }

    /// Whether the input asks for `sync_mode` (outputs inline as data URIs).
    static func syncMode(of input: Data) -> Bool {
        (try? JSONValue.parse(input))?["sync_mode"]?.boolValue ?? false
    }
}
