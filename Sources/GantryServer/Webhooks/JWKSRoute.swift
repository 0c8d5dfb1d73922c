import Foundation
import GantryCore
import HTTPTypes
import Hummingbird
import Signing

/// `GET /.well-known/jwks.json`: the public keys webhook receivers verify signatures with, in fal's JWKS shape
/// (`{"keys": [{"kty": "OKP", "crv": "Ed25519", "x", "kid", "use", "alg"}]}`). Public, like fal's; receivers may
/// cache it (an hour here, so a rotation is seen well before a delayed key starts signing).
struct JWKSRoute: Sendable {
    let keys: SigningKeyRing

    func register(on router: RouteTable) {
        router.get("/.well-known/jwks.json") { _, _ in
            let entries = keys.jwks().map { entry in JSONValue.object(entry.mapValues { .string($0) }) }
            var headers = HTTPFields()
            headers[.cacheControl] = "public, max-age=3600"
            return Response.json(.object(["keys": .array(entries)]), headers: headers)
        }
    }
}
