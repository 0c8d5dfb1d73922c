import Foundation
import GantryCore
import Signing

/// Where an S3-compatible file store lives, from `--file-store s3://BUCKET?endpoint=…&region=…` and the
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables.
///
/// Objects are addressed path-style (`{endpoint}/{bucket}/{key}`), which every S3-compatible server accepts;
/// virtual-host addressing needs DNS for each bucket, which a self-hosted store rarely has.
public struct S3Location: Sendable, Equatable {
    /// The bucket's name.
    public var bucket: String
    /// `http` or `https`.
    public var scheme: String
    /// The endpoint's host name or address (IPv6 without brackets).
    public var host: String
    /// The endpoint's port.
    public var port: Int
    /// The signing region (`us-east-1` unless given).
    public var region: String
    /// The access key pair.
    public var credentials: SigV4Signer.Credentials
    /// Seconds a presigned GET URL in an image record stays valid (`presign=`); nil: records carry the host's
    /// `/files/…` URLs (the default).
    public var presignSeconds: Int?

    /// `host` or `host:port` as the `Host` header and the signature carry it (the port only when not the scheme's own).
    public var authority: String {
        let name = host.contains(":") ? "[\(host)]" : host
        let defaultPort = scheme == "https" ? 443 : 80
        return port == defaultPort ? name : "\(name):\(port)"
    }

    /// The bucket's base URL, without a trailing slash.
    public var bucketURL: String { "\(scheme)://\(authority)/\(SigV4Signer.encode(bucket))" }

    public init(bucket: String, scheme: String, host: String, port: Int, region: String,
                credentials: SigV4Signer.Credentials, presignSeconds: Int? = nil) {
        self.bucket = bucket
        self.scheme = scheme
        self.host = host
        self.port = port
        self.region = region
        self.credentials = credentials
        self.presignSeconds = presignSeconds
    }

    /// Parses `s3://BUCKET?endpoint=http://host:port&region=REGION&presign=SECONDS`; credentials come from
    /// `environment`. Every missing or malformed part is an error that names it.
    public static func parse(_ text: String, environment: [String: String]) throws -> S3Location {
        guard let url = URLComponents(string: text), url.scheme == "s3" else {
            throw ConfigurationError("--file-store must look like s3://BUCKET?endpoint=http://HOST:PORT&region=REGION, not \(text)")
        }
        guard let bucket = url.host, isValidBucket(bucket), url.path.isEmpty || url.path == "/" else {
            throw ConfigurationError("--file-store: the bucket name must be 3-63 lower-case letters, digits, dots and hyphens")
        }
        var options: [String: String] = [:]
        for item in url.queryItems ?? [] {
            guard ["endpoint", "region", "presign"].contains(item.name) else {
                throw ConfigurationError("--file-store: unknown option \(item.name) (known: endpoint, region, presign)")
            }
            options[item.name] = item.value ?? ""
        }
        guard let endpointText = options["endpoint"], let endpoint = URLComponents(string: endpointText),
              let scheme = endpoint.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = endpoint.host, !host.isEmpty, endpoint.path.isEmpty || endpoint.path == "/",
              endpoint.query == nil, endpoint.user == nil else {
            throw ConfigurationError("--file-store: endpoint= must be an http(s) URL of a host and port with no path, such as http://127.0.0.1:8333")
        }
        let region = options["region"] ?? "us-east-1"
        guard !region.isEmpty, region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw ConfigurationError("--file-store: region= must be letters, digits and hyphens")
        }
        var presign: Int?
        if let text = options["presign"] {
            guard let seconds = Int(text), (1...604_800).contains(seconds) else {
                throw ConfigurationError("--file-store: presign= must be seconds from 1 to 604800 (7 days, S3's limit)")
            }
            presign = seconds
        }
        guard let access = environment["AWS_ACCESS_KEY_ID"], !access.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw ConfigurationError("--file-store s3://… needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
        }
        return S3Location(bucket: bucket, scheme: scheme, host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
                          port: endpoint.port ?? (scheme == "https" ? 443 : 80), region: region,
                          credentials: .init(accessKey: access, secretKey: secret), presignSeconds: presign)
    }

    /// S3's bucket naming rules, the part that matters for a path-style URL.
    static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.count)
            && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }
            && name.first!.isASCII && (name.first!.isLetter || name.first!.isNumber)
    }
}
