import BuiltinFunctions
import GantryCore

/// Every function implementation compiled into this binary, by manifest `handler` name.
enum Handlers {
    static var all: [String: AnyHostedFunction] {
        BuiltinFunctions.handlers
    }
}
