#!/usr/bin/env bash
# Runs the Kotlin tests: regenerates the bindings from a host build of
# vigil-ffi, compiles them with every tests/kotlin/*.kt file, and runs the
# JUnit 4 tests on the JVM against that library through JNA.
#
# Test files are JUnit 4 classes with @org.junit.Test methods; kotlin.test
# assertions work too. scripts/kotlin/JUnitMain.kt finds and runs them and
# prints the closing line "N passed, N failed". The exit status is non-zero
# when a test fails, no test runs, or a step before the tests fails.
#
# Needs the tools from scripts/install-test-tools.sh. The Debian jar locations
# can be overridden with JNA_JAR, JUNIT_JAR and HAMCREST_JAR.
set -euo pipefail

usage() {
    cat <<EOF
Usage: $(basename "$0") [--release] [--no-generate] [TEST_CLASS...]

Compiles and runs the Kotlin tests in tests/kotlin against the host build of
vigil-ffi.

Options:
  --release      test the release build (default: dev profile)
  --no-generate  reuse the library and bindings from the last run instead of
                 running scripts/generate-bindings.sh
  -h, --help     show this help

TEST_CLASS      run only these test classes (simple or fully qualified name)
EOF
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFILE_ARGS=()
PROFILE_DIR="debug"
GENERATE=1
SELECTED_CLASSES=()

while [[ $# -gt 0 ]]; do
    case "$1" in
        --release)
            PROFILE_ARGS=(--release)
            PROFILE_DIR="release"
            ;;
        --no-generate) GENERATE=0 ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            echo "error: unknown option '$1'" >&2
            usage >&2
            exit 2
            ;;
        *) SELECTED_CLASSES+=("$1") ;;
    esac
    shift
done

KOTLIN_HOME="$ROOT/.tools/node_modules/kotlin-compiler"
KOTLINC="$KOTLIN_HOME/bin/kotlinc"
COROUTINES_JAR="$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar"
KOTLIN_TEST_JARS="$KOTLIN_HOME/lib/kotlin-test.jar:$KOTLIN_HOME/lib/kotlin-test-junit.jar"
KOTLIN_STDLIB_JAR="$KOTLIN_HOME/lib/kotlin-stdlib.jar"
JNA_JAR="${JNA_JAR:-/usr/share/java/jna.jar}"
JUNIT_JAR="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
HAMCREST_JAR="${HAMCREST_JAR:-/usr/share/java/hamcrest.jar}"

for required in "$KOTLINC" "$COROUTINES_JAR" "$JNA_JAR" "$JUNIT_JAR" "$HAMCREST_JAR"; do
    if [[ ! -e "$required" ]]; then
        echo "error: $required not found; run scripts/install-test-tools.sh (as root) first" >&2
        exit 1
    fi
done

cd "$ROOT"
shopt -s nullglob
TEST_FILES=(tests/kotlin/*.kt)
shopt -u nullglob
if [[ ${#TEST_FILES[@]} -eq 0 ]]; then
    echo "error: no test files match tests/kotlin/*.kt" >&2
    exit 1
fi

if [[ $GENERATE -eq 1 ]]; then
    scripts/generate-bindings.sh ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"}
    # The tests sync to a `vigil serve` process of the same build.
    cargo build -p vigil-cli ${PROFILE_ARGS[@]+"${PROFILE_ARGS[@]}"}
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIBRARY_DIR="$TARGET_DIR/$PROFILE_DIR"
if [[ "$(uname -s)" == Darwin ]]; then
    LIBRARY="$LIBRARY_DIR/libvigil_ffi.dylib"
else
    LIBRARY="$LIBRARY_DIR/libvigil_ffi.so"
fi
BINDINGS_FILES=()
while IFS= read -r file; do
    BINDINGS_FILES+=("$file")
done < <(find bindings/generated/kotlin -name '*.kt' 2>/dev/null | sort)
if [[ ${#BINDINGS_FILES[@]} -eq 0 || ! -f "$LIBRARY" ]]; then
    echo "error: no generated bindings or no $LIBRARY; run without --no-generate" >&2
    exit 1
fi

BUILD_DIR="$TARGET_DIR/kotlin-tests/$PROFILE_DIR"
MAIN_CLASSES="$BUILD_DIR/main"
TEST_CLASSES="$BUILD_DIR/tests"
RUNNER_SOURCE="scripts/kotlin/JUnitMain.kt"
KOTLINC_ARGS=(-jvm-target 17)

sha256_stdin() {
    if command -v sha256sum >/dev/null; then
        sha256sum | cut -d' ' -f1
    else
        shasum -a 256 | cut -d' ' -f1
    fi
}

# The generated bindings are large and change only with the Rust API, so they
# are compiled (with the runner) only when a source or the compiler changed.
MAIN_INPUTS_HASH="$(
    {
        echo "$KOTLINC ${KOTLINC_ARGS[*]}"
        cat "$KOTLIN_HOME/build.txt"
        cat "${BINDINGS_FILES[@]}" "$RUNNER_SOURCE"
    } | sha256_stdin
)"
MAIN_STAMP="$MAIN_CLASSES/.inputs.sha256"
if [[ ! -f "$MAIN_STAMP" || "$(cat "$MAIN_STAMP")" != "$MAIN_INPUTS_HASH" ]]; then
    echo "Compiling the Kotlin bindings and the test runner"
    rm -rf "$MAIN_CLASSES"
    mkdir -p "$MAIN_CLASSES"
    # -nowarn because the generated code's warnings are UniFFI's to fix.
    "$KOTLINC" "${KOTLINC_ARGS[@]}" -nowarn \
        -classpath "$JNA_JAR:$COROUTINES_JAR:$JUNIT_JAR" \
        -d "$MAIN_CLASSES" "${BINDINGS_FILES[@]}" "$RUNNER_SOURCE"
    echo "$MAIN_INPUTS_HASH" > "$MAIN_STAMP"
fi

echo "Compiling ${#TEST_FILES[@]} test file(s)"
rm -rf "$TEST_CLASSES"
mkdir -p "$TEST_CLASSES"
COMPILE_CLASSPATH="$MAIN_CLASSES:$JNA_JAR:$COROUTINES_JAR:$JUNIT_JAR:$HAMCREST_JAR:$KOTLIN_TEST_JARS"
"$KOTLINC" "${KOTLINC_ARGS[@]}" -classpath "$COMPILE_CLASSPATH" -d "$TEST_CLASSES" "${TEST_FILES[@]}"

# `cargo pkgid` prints e.g. path+file:///repo/bindings#vigil-ffi@0.1.0.
PACKAGE_ID="$(cargo pkgid -p vigil-ffi)"
CARGO_VERSION="${PACKAGE_ID##*[#@]}"

echo "Running the tests against $LIBRARY"
java \
    -Djna.library.path="$LIBRARY_DIR" \
    -Dvigil.cargoVersion="$CARGO_VERSION" \
    -Dvigil.binary="$LIBRARY_DIR/vigil" \
    -classpath "$TEST_CLASSES:$COMPILE_CLASSPATH:$KOTLIN_STDLIB_JAR" \
    vigil.testrunner.JUnitMainKt "$TEST_CLASSES" ${SELECTED_CLASSES[@]+"${SELECTED_CLASSES[@]}"}
