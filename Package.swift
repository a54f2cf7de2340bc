// swift-tools-version:6.0
// Vigil: the edge agent for roadside camera gateways. The same sources build here, for the host
// and `swift test`, and in Embedded Swift mode for the board (Scripts/build-embedded).
import PackageDescription

let package = Package(
  name: "Vigil",
  products: [
    .executable(name: "vigil", targets: ["vigil"]),
    // The district centre's tool, for its servers: a host build only, never Embedded.
    .executable(name: "vigil-centre", targets: ["vigil-centre"]),
    // The view watch over the evaluation set (issue 14): a host build only, never Embedded.
    .executable(name: "vigil-view-eval", targets: ["vigil-view-eval"]),
  ],
  targets: [
    // C libraries of the board, found with pkg-config (Debian's -dev packages).
    .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto",
                   providers: [.apt(["libmosquitto-dev"])]),
    .systemLibrary(name: "CGpiod", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
    .systemLibrary(name: "CcJSON", pkgConfig: "libcjson", providers: [.apt(["libcjson-dev"])]),
    .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
    .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
    .systemLibrary(name: "CAres", pkgConfig: "libcares", providers: [.apt(["libc-ares-dev"])]),
    // Snapshots decoded at 1/8 scale for the view watch.
    .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                   providers: [.apt(["libturbojpeg0-dev"])]),
    // The centre's HTTP server (`vigil-centre exporter`); never linked into the board's binary.
    .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
                   providers: [.apt(["libmicrohttpd-dev"])]),
    // The OpenSSL client context handed to libmosquitto: OpenSSL's setters are macros.
    .target(name: "CTLS", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
    // POSIX headers for both build modes, and shims for what Swift cannot call (variadics, macros).
    .target(name: "CVigil", dependencies: ["CCurl"]),
    // Pure core: config, board files, state machines, message encoding. No I/O.
    .target(name: "VigilCore", dependencies: ["CcJSON"]),
    // Platform: one file per kernel interface or C library.
    .target(name: "VigilPlatform",
            dependencies: ["VigilCore", "CVigil", "CMosquitto", "CGpiod", "CCurl", "CSodium",
                           "CAres", "CTLS", "CTurboJPEG"]),
    // The agent: wiring of core and platform, the command line.
    .target(name: "VigilAgent", dependencies: ["VigilCore", "VigilPlatform", "CVigil"]),
    // Thin executable.
    .executableTarget(name: "vigil", dependencies: ["VigilAgent"]),
    // The centre's commands (signing today; issue 17 adds more), on the same core and platform.
    .target(name: "VigilCentre", dependencies: ["VigilCore", "VigilPlatform", "CMicroHTTPD"]),
    .executableTarget(name: "vigil-centre", dependencies: ["VigilCentre"]),
    // The evaluation set's runner: the agent's decode-and-score path over real scenes.
    .target(name: "VigilViewEval", dependencies: ["VigilCore", "VigilPlatform"]),
    .executableTarget(name: "vigil-view-eval", dependencies: ["VigilViewEval", "VigilPlatform"]),
    .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore"]),
    // The platform layer against real files (the spool).
    .testTarget(name: "VigilPlatformTests", dependencies: ["VigilPlatform", "VigilCore"]),
    .testTarget(name: "VigilIntegrationTests", dependencies: ["VigilCore", "VigilAgent"]),
    // The centre's commands: their pure parts, rollouts against a real broker and agents, and
    // the exporter against real agents, a real Prometheus and a real browser. Harness.swift
    // and FakeCamera.swift are links to the integration tests' own, not copies.
    .testTarget(name: "VigilCentreTests", dependencies: ["VigilCentre", "VigilCore"]),
    // The Done-when of issue 14 on the evaluation set (Tests/Fixtures/view-eval.py); a stage
    // of Scripts/test of its own, so that its CPU does not starve the timing-sensitive tests.
    .testTarget(name: "VigilViewEvalTests", dependencies: ["VigilViewEval", "VigilCore"]),
  ],
  swiftLanguageModes: [.v5]
)
