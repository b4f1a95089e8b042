#!/usr/bin/env bash
# Builds vigil-ffi for the host and generates its Kotlin and Swift bindings
# with UniFFI in library mode, from the metadata embedded in the built library.
#
# Outputs (all generated, none committed):
#   bindings/generated/kotlin/   Kotlin sources, package uniffi.vigil_ffi
#   bindings/generated/swift/    vigil_ffi.swift, vigil_ffiFFI.h, vigil_ffiFFI.modulemap
#   ios/Sources/VigilCore/vigil_ffi.swift   copy for the Swift package
#
# UniFFI checks at load time that the bindings match the library's API
# checksums, so bindings must come from the same source as the library that
# ships with them. The metadata does not depend on the target, so bindings
# generated from the host build also serve the Android and iOS builds.
set -euo pipefail

usage() {
    cat <<EOF
Usage: $(basename "$0") [--release]

Builds vigil-ffi for the host with cargo and generates its Kotlin and Swift
bindings.

Options:
  --release   build with the release profile (default: dev profile, target/debug)
  -h, --help  show this help
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE_ARGS=()
PROFILE_DIR="debug"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --release)
            PROFILE_ARGS=(--release)
            PROFILE_DIR="release"
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

case "$(uname -s)" in
    Darwin) LIBRARY_FILE="libvigil_ffi.dylib" ;;
    Linux) LIBRARY_FILE="libvigil_ffi.so" ;;
    *)
        echo "error: unsupported host $(uname -s); run this script on Linux or macOS" >&2
        exit 1
        ;;
esac

cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIBRARY="$TARGET_DIR/$PROFILE_DIR/$LIBRARY_FILE"

# Builds the cdylib and the uniffi-bindgen binary in one go, so the
# `cargo run` calls below only start the binary. The expansion form of
# PROFILE_ARGS keeps an empty array valid under `set -u` in bash 3.2 (macOS).
cargo build -p vigil-ffi ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"}
if [[ ! -f "$LIBRARY" ]]; then
    echo "error: $LIBRARY not found after the build; is CARGO_TARGET_DIR set the same for cargo and this script?" >&2
    exit 1
fi

GENERATED_DIR="$ROOT/bindings/generated"
STAGING_DIR="$(mktemp -d "${TMPDIR:-/tmp}/vigil-bindings.XXXXXX")"
trap 'rm -rf "$STAGING_DIR"' EXIT

# Generates one language into the staging folder, so a failed run leaves the
# previous bindings untouched. --no-format keeps the output independent of
# whether ktlint or swift-format happens to be installed.
generate() {
    local language="$1"
    mkdir -p "$STAGING_DIR/$language"
    cargo run --quiet -p vigil-ffi ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"} --bin uniffi-bindgen -- \
        generate --library "$LIBRARY" --language "$language" \
        --out-dir "$STAGING_DIR/$language" --no-format
}

generate kotlin
generate swift

mkdir -p "$GENERATED_DIR"
rm -rf "$GENERATED_DIR/kotlin" "$GENERATED_DIR/swift"
mv "$STAGING_DIR/kotlin" "$GENERATED_DIR/kotlin"
mv "$STAGING_DIR/swift" "$GENERATED_DIR/swift"

SWIFT_SOURCES_DIR="$ROOT/ios/Sources/VigilCore"
mkdir -p "$SWIFT_SOURCES_DIR"
cp "$GENERATED_DIR/swift/"*.swift "$SWIFT_SOURCES_DIR/"

echo "Generated bindings from $LIBRARY:"
find "$GENERATED_DIR" -type f | sort
ls "$SWIFT_SOURCES_DIR/"*.swift
