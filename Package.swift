// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "gantry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gantry", targets: ["gantry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.20.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
    ],
    targets: [
        // C system libraries and shims.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .target(name: "CPNGShim", dependencies: ["CPNG"]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "CCryptoShim", dependencies: ["COpenSSL"]),

        // Leaf libraries.
        .target(name: "Egress", dependencies: [
            "CCurl", "CCurlShim",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Imaging", dependencies: ["CPNG", "CPNGShim", "CWebP", "CTurboJPEG"]),
        // SHA-256, HMAC, Ed25519 (libcrypto), webhook signing keys and scoped tokens.
        .target(name: "Signing", dependencies: ["CCryptoShim"]),

        // The request model, stores, dispatcher.
        .target(name: "GantryCore", dependencies: [
            "Signing",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "GantrySQLite", dependencies: [
            "GantryCore",
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "GantryPostgres", dependencies: [
            "GantryCore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "GantryS3", dependencies: [
            "GantryCore", "Egress", "Signing",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "BuiltinFunctions", dependencies: ["GantryCore", "Imaging", "Signing"]),
        .target(name: "Fooocus", dependencies: ["Imaging", "GantryCore"]),
        .target(name: "GantryServer", dependencies: [
            "GantryCore", "GantrySQLite", "GantryPostgres", "GantryS3", "Egress", "Imaging", "BuiltinFunctions", "Signing",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "gantry", dependencies: [
            "GantryServer", "GantryCore", "GantrySQLite", "GantryPostgres", "GantryS3", "BuiltinFunctions", "Fooocus", "Imaging", "Signing",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),

        // The benchmark's load generator (bench/host.sh): keep-alive HTTP/1.1 clients on swift-nio.
        .executableTarget(name: "gantry-loadgen", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),

        // The imaging/pipeline benchmark (bench/pipeline.sh): Swift side, timed against the Python reference.
        .executableTarget(name: "gantry-pipeline-bench", dependencies: ["Fooocus", "Imaging"]),

        // The reference engine's quality bench (bench/engine_quality.sh): one inpaint through the real pipeline.
        .executableTarget(name: "gantry-engine-bench", dependencies: ["Fooocus", "Imaging"]),

        // Tests, one target per module plus the server (router and live tiers).
        .testTarget(name: "GantryCoreTests", dependencies: ["GantryCore"]),
        .testTarget(name: "JobStoreTests", dependencies: [
            "GantrySQLite", "GantryCore", "GantryPostgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .testTarget(name: "EgressTests", dependencies: ["Egress"]),
        .testTarget(name: "FileStoreTests", dependencies: ["GantryS3", "GantryCore", "Signing"]),
        .testTarget(name: "SigningTests", dependencies: ["Signing"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "FooocusTests", dependencies: [
            "Fooocus", "Imaging", "GantryCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "GantryServerTests", dependencies: [
            "GantryServer", "GantryCore", "GantryPostgres", "GantryS3", "Egress", "Imaging", "BuiltinFunctions", "Fooocus", "Signing",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
