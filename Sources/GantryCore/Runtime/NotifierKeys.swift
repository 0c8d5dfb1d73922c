/// The keys the runtime publishes on its `ChangeNotifier`, spelled in one place.
public enum NotifierKeys {
    /// A request changed: state, logs or progress. The key is the request id itself.
    public static func request(_ id: String) -> String { id }
    /// New work may be claimable for a function (a submit, a rescue, a release).
    public static func work(_ functionID: String) -> String { "work:\(functionID)" }
    /// A request has a new partial output.
    public static func partial(_ id: String) -> String { "partial:\(id)" }
    /// A cancel arrived for a request leased to this owner (a runner instance's heartbeat waits on it).
    public static func leaseOwner(_ owner: String) -> String { "owner:\(owner)" }
    /// The set of functions changed (a runner registered one).
    public static let catalog = "catalog"
    /// The host began draining (shutdown): long polls answer at once.
    public static let drain = "drain"
}
