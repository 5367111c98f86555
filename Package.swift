// swift-tools-version:6.2
import PackageDescription

// Every import says what a file uses (MemberImportVisibility: no member reaches a file
// through another file's import), and a module's imports stay its own unless declared
// `public import` (InternalImportsByDefault): Foundation cannot leak into batond unseen.
let strictImports: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "batond", targets: ["batond"]),
        .executable(name: "batonctl", targets: ["batonctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // batonctl: HTTP client generated from openapi/openapi.yaml at build time.
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", from: "1.4.0"),
    ],
    targets: [
        // C libraries: each is wrapped exactly once, by the Swift module named below it.
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CMHDShim", dependencies: ["CMicroHTTPD"]),

        // Infrastructure shared by every module and batonctl: logging, clocks, threads,
        // digests, name rules, the version. Glibc and the standard library only.
        .target(name: "BatonSupport", swiftSettings: strictImports),
        // Pure Swift domain: no C imports, no Foundation.
        .target(name: "BatonCore", dependencies: ["BatonSupport"], swiftSettings: strictImports),
        .target(name: "BatonRedis", dependencies: ["BatonCore", "BatonSupport", "CHiredis"], swiftSettings: strictImports),
        .target(name: "BatonPostgres", dependencies: ["BatonCore", "BatonSupport", "CLibPQ"], swiftSettings: strictImports),
        .target(name: "BatonHTTP", dependencies: ["BatonSupport", "CMicroHTTPD", "CMHDShim"], swiftSettings: strictImports),
        .target(name: "BatonAPI", dependencies: ["BatonCore", "BatonSupport", "BatonHTTP"],
                resources: [.embedInCode("Resources/openapi.yaml")], swiftSettings: strictImports),
        .executableTarget(name: "batond", dependencies: [
            "BatonSupport", "BatonCore", "BatonRedis", "BatonPostgres", "BatonHTTP", "BatonAPI",
        ], swiftSettings: strictImports),
        // The client is generated at build time from Sources/batonctl/openapi.yaml, a symlink
        // to openapi/openapi.yaml (one copy of the contract).
        .executableTarget(name: "batonctl", dependencies: [
            "BatonSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
        ], swiftSettings: strictImports, plugins: [
            .plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator"),
        ]),

        // libFuzzer target over request decoding: chaos/fuzz.sh builds it with -sanitize=fuzzer;
        // a plain build makes the corpus replay tool that the chaos tests run.
        .executableTarget(name: "BatonFuzz", dependencies: ["BatonAPI", "BatonCore", "BatonHTTP", "BatonSupport"], path: "Fuzz/BatonFuzz"),
        // Micro-benchmarks for release-build figures (bench/README.md): swift run -c release BatonBench.
        .executableTarget(name: "BatonBench", dependencies: ["BatonHTTP"], path: "bench/BatonBench"),

        // Fakes and process helpers shared by the test targets.
        .target(name: "BatonTestSupport", dependencies: ["BatonCore", "BatonSupport"], path: "Tests/BatonTestSupport"),
        .testTarget(name: "BatonUnitTests", dependencies: [
            "BatonSupport", "BatonCore", "BatonHTTP", "BatonAPI", "BatonRedis", "BatonPostgres", "BatonTestSupport",
        ]),
        .testTarget(name: "BatonctlTests", dependencies: ["batonctl", "BatonSupport"]),
        .testTarget(name: "BatonIntegrationTests", dependencies: [
            "BatonSupport", "BatonCore", "BatonRedis", "BatonPostgres", "BatonTestSupport",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
