import BuiltinFunctions
import Fooocus
import GantryCore

/// Every function implementation compiled into this binary, by manifest `handler` name.
enum Handlers {
    static var all: [String: AnyHostedFunction] {
        BuiltinFunctions.handlers.merging(FooocusFunctions.handlers()) { builtin, _ in builtin }
    }
}
