/// The lifecycle state of one request. The set is closed and mirrored by a CHECK constraint in every SQL store.
///
/// ```
/// queued → running → succeeded | failed | cancelled
/// queued → cancelled | expired
/// running → queued            (a lease was lost or released; the sweeper or a graceful shutdown puts it back)
/// ```
public enum RequestState: String, Sendable, Codable, CaseIterable, Hashable {
    case queued
    case running
    case succeeded
    case failed
    case cancelled
    case expired

    /// Whether no further transition can leave this state.
    public var isTerminal: Bool {
        switch self {
        case .queued, .running: false
        case .succeeded, .failed, .cancelled, .expired: true
        }
    }

    /// Whether the lifecycle allows moving from `self` to `next`. Stores use this to check every transition.
    public func canTransition(to next: RequestState) -> Bool {
        switch (self, next) {
        case (.queued, .running), (.queued, .cancelled), (.queued, .expired):
            true
        case (.running, .succeeded), (.running, .failed), (.running, .cancelled), (.running, .queued):
            true
        default:
            false
        }
    }

    /// fal's wire name for the state: `IN_QUEUE`, `IN_PROGRESS` or `COMPLETED`.
    public var falStatus: String {
        switch self {
        case .queued: "IN_QUEUE"
        case .running: "IN_PROGRESS"
        case .succeeded, .failed, .cancelled, .expired: "COMPLETED"
        }
    }
}

/// Queue priority: `normal` requests are always claimed before `low` ones; FIFO within a priority.
public enum RequestPriority: Int, Sendable, Codable, Comparable {
    case normal = 0
    case low = 1

    /// Parses fal's `X-Fal-Queue-Priority` header value; anything but `low` is normal.
    public init(header: String?) {
        self = header?.lowercased() == "low" ? .low : .normal
    }

    public static func < (lhs: RequestPriority, rhs: RequestPriority) -> Bool { lhs.rawValue < rhs.rawValue }
}
