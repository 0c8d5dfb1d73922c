import Foundation
import Synchronization

/// The functions this host serves right now: the built-in ones from the manifests, and the runner functions
/// registered through the runner protocol (persisted in the store, installed at start-up and on registration).
///
/// A runner function may take the id of a built-in one (a token whose globs cover the id is the operator's
/// consent): the runners then serve it, with their declared schema, and the in-process workers stop claiming it.
/// Lookups read an immutable snapshot, so the hot path takes the lock once and copies nothing.
public final class FunctionCatalog: Sendable {
    /// The functions compiled into this binary and declared by manifests.
    public let builtins: FunctionRegistry

    private struct State {
        var runnerFunctions: [String: RegisteredFunction] = [:]
        var current: FunctionRegistry
        var version = 0
    }

    private let state: Mutex<State>

    public init(builtins: FunctionRegistry) {
        self.builtins = builtins
        state = Mutex(State(current: builtins))
    }

    /// Every function served now (runner functions in place of built-ins with the same id).
    public var current: FunctionRegistry { state.withLock { $0.current } }

    /// Increases whenever the set changes (OpenAPI documents are rebuilt on change).
    public var version: Int { state.withLock { $0.version } }

    /// The function with this id.
    public func function(id: String) -> RegisteredFunction? { current.function(id: id) }

    /// Whether runners serve this id (a runner function, possibly in place of a built-in one).
    public func isRunnerServed(_ id: String) -> Bool { state.withLock { $0.runnerFunctions[id] != nil } }

    /// The ids of every runner function.
    public var runnerFunctionIDs: [String] { state.withLock { $0.runnerFunctions.keys.sorted() } }

    /// Installs (or replaces) a runner function; true when it takes the place of a built-in one.
    @discardableResult
    func install(_ function: RegisteredFunction) -> Bool {
        state.withLock { state in
            state.runnerFunctions[function.id] = function
            state.current = Self.merge(builtins, state.runnerFunctions)
            state.version += 1
            return builtins.function(id: function.id) != nil
        }
    }

    /// Removes a runner function (a built-in one with that id serves again).
    func remove(_ id: String) {
        state.withLock { state in
            guard state.runnerFunctions.removeValue(forKey: id) != nil else { return }
            state.current = Self.merge(builtins, state.runnerFunctions)
            state.version += 1
        }
    }

    private static func merge(_ builtins: FunctionRegistry, _ runners: [String: RegisteredFunction]) -> FunctionRegistry {
        FunctionRegistry(functions: builtins.functions.filter { runners[$0.id] == nil } + runners.values)
    }
}
