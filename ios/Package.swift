// swift-tools-version:5.9
// Swift package of the Vigil core for the iOS app. Run ./build-xcframework.sh
// first: it builds the Rust library into build/vigil_ffiFFI.xcframework and
// generates Sources/VigilCore/vigil_ffi.swift, and neither is committed.
import PackageDescription

let package = Package(
    name: "VigilCore",
    platforms: [
        // Keep in step with IPHONEOS_DEPLOYMENT_TARGET in build-xcframework.sh.
        .iOS(.v15),
    ],
    products: [
        .library(name: "VigilCore", targets: ["VigilCore"]),
    ],
    targets: [
        // Static Rust library plus the C header and Clang module vigil_ffiFFI
        // that the generated Swift code imports.
        .binaryTarget(
            name: "vigil_ffiFFI",
            path: "build/vigil_ffiFFI.xcframework"
        ),
        // The Swift API that UniFFI generates from the library.
        .target(
            name: "VigilCore",
            dependencies: ["vigil_ffiFFI"],
            path: "Sources/VigilCore"
        ),
        .testTarget(
            name: "VigilCoreTests",
            dependencies: ["VigilCore"],
            path: "Tests/VigilCoreTests"
        ),
    ]
)
