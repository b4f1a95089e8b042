#!/usr/bin/env bash
# Builds vigil-ffi as a static library for iOS devices and simulators and
# packs it with the UniFFI C header into ios/build/vigil_ffiFFI.xcframework,
# the binary target of ios/Package.swift. Also regenerates the Swift sources
# in ios/Sources/VigilCore so that they match the library.
#
# Runs on macOS with Xcode (xcodebuild, lipo) and the Rust targets
# aarch64-apple-ios, aarch64-apple-ios-sim and x86_64-apple-ios.
#
# NOTE: this script has never run, because the development machine has no
# macOS, Xcode or Swift toolchain.
set -euo pipefail

usage() {
    cat <<EOF
Usage: $(basename "$0") [--debug]

Builds ios/build/vigil_ffiFFI.xcframework from vigil-ffi.

Options:
  --debug     build the Rust library with the dev profile (default: release)
  -h, --help  show this help

Environment:
  IPHONEOS_DEPLOYMENT_TARGET  minimum iOS version of the library (default 15.0,
                              the platform version in Package.swift)
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE_ARGS=(--release)
PROFILE_DIR="release"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --debug)
            PROFILE_ARGS=()
            PROFILE_DIR="debug"
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "error: unknown argument '$1'" >&2
            usage >&2
            exit 2
            ;;
    esac
    shift
done

if [[ "$(uname -s)" != Darwin ]]; then
    echo "error: building an XCFramework needs macOS with Xcode; this host is $(uname -s)" >&2
    exit 1
fi
for tool in cargo rustup xcodebuild lipo; do
    if ! command -v "$tool" >/dev/null; then
        echo "error: $tool not found; install Xcode and Rust (rustup) first" >&2
        exit 1
    fi
done

DEVICE_TARGET="aarch64-apple-ios"
SIMULATOR_TARGETS=(aarch64-apple-ios-sim x86_64-apple-ios)
ALL_TARGETS=("$DEVICE_TARGET" "${SIMULATOR_TARGETS[@]}")

INSTALLED_TARGETS="$(rustup target list --installed)"
for target in "${ALL_TARGETS[@]}"; do
    if ! grep -qx "$target" <<<"$INSTALLED_TARGETS"; then
        echo "error: Rust target $target is not installed; run: rustup target add ${ALL_TARGETS[*]}" >&2
        exit 1
    fi
done

# Without it, rustc and the cc crate use their own minimum iOS version, and the
# app's linker may warn that objects were built for a newer iOS version.
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"

cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
for target in "${ALL_TARGETS[@]}"; do
    echo "Building vigil-ffi for $target"
    cargo build -p vigil-ffi --lib --target "$target" ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"}
done

# Host build of the same sources: writes the Swift sources into
# ios/Sources/VigilCore and the C header and modulemap into
# bindings/generated/swift.
scripts/generate-bindings.sh ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"}

BUILD_DIR="$ROOT/ios/build"
HEADERS_DIR="$BUILD_DIR/headers"
SIMULATOR_LIBRARY="$BUILD_DIR/ios-simulator/libvigil_ffi.a"
XCFRAMEWORK="$BUILD_DIR/vigil_ffiFFI.xcframework"

# Clang finds the module through Headers/module.modulemap in the XCFramework.
# The module name inside it, vigil_ffiFFI, is what the generated Swift imports.
rm -rf "$HEADERS_DIR"
mkdir -p "$HEADERS_DIR"
cp bindings/generated/swift/vigil_ffiFFI.h "$HEADERS_DIR/"
cp bindings/generated/swift/vigil_ffiFFI.modulemap "$HEADERS_DIR/module.modulemap"

# An XCFramework contains one library per platform variant, so both simulator
# architectures go into one universal library.
mkdir -p "$(dirname "$SIMULATOR_LIBRARY")"
SIMULATOR_INPUTS=()
for target in "${SIMULATOR_TARGETS[@]}"; do
    SIMULATOR_INPUTS+=("$TARGET_DIR/$target/$PROFILE_DIR/libvigil_ffi.a")
done
lipo -create "${SIMULATOR_INPUTS[@]}" -output "$SIMULATOR_LIBRARY"

# xcodebuild fails when the output XCFramework exists already.
rm -rf "$XCFRAMEWORK"
xcodebuild -create-xcframework \
    -library "$TARGET_DIR/$DEVICE_TARGET/$PROFILE_DIR/libvigil_ffi.a" -headers "$HEADERS_DIR" \
    -library "$SIMULATOR_LIBRARY" -headers "$HEADERS_DIR" \
    -output "$XCFRAMEWORK"

echo "Built $XCFRAMEWORK"
