import Foundation

/// Follows one request of one tenant: each `next` returns the request as it stands, the first at once and every
/// later one after it changed (or `timeout` passed, so changes made by another process are seen too).
///
/// It subscribes *before* it reads, so a change between a read and the following wait is never missed. Another
/// tenant's request reads as missing, exactly like an unknown id.
public struct RequestWatch: Sendable {
    let store: any JobStore
    let notifier: ChangeNotifier
    let id: String
    let tenant: String
    /// Whether new partial outputs count as changes (the output stream).
    let partialOutputs: Bool
    /// More keys that end a wait early (the drain).
    var extraKeys: [String] = []
    /// Re-read at least this often even without a change notice.
    let recheck: Duration
    private var subscription: Subscription?

    init(store: any JobStore, notifier: ChangeNotifier, id: String, tenant: String, partialOutputs: Bool, recheck: Duration) {
        self.store = store
        self.notifier = notifier
        self.id = id
        self.tenant = tenant
        self.partialOutputs = partialOutputs
        self.recheck = recheck
    }

    /// The request now (first call) or after the next change, waiting at most `timeout` (capped at the recheck
    /// interval); nil when it does not exist or belongs to another tenant. Returns early when the task is cancelled.
    /// After a terminal state the watch is closed: a further `next` re-reads at once.
    public mutating func next(timeout: Duration) async throws -> RequestRecord? {
        if let subscription {
            await subscription.wait(timeout: min(timeout, recheck))
            subscription.cancel()
        }
        let keys = (partialOutputs ? [NotifierKeys.request(id), NotifierKeys.partial(id)] : [NotifierKeys.request(id)]) + extraKeys
        subscription = notifier.subscribe(anyOf: keys)
        guard let record = try await store.requestGet(id: id), record.tenant == tenant else {
            close()
            return nil
        }
        // Nothing a watcher follows changes after the end; no subscription is left behind.
        if record.state.isTerminal { close() }
        return record
    }

    /// Drops the subscription (a watch that is not read to the end should be closed).
    public mutating func close() {
        subscription?.cancel()
        subscription = nil
    }
}
