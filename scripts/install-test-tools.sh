#!/usr/bin/env bash
# Installs the tools that scripts/test-kotlin.sh needs on a Debian machine:
# JNA and JUnit 4 from Debian, and the Kotlin compiler from npm into .tools/.
# Safe to run again: steps whose result is already present are skipped.
# Needs root for apt-get; Node.js with npm and a JDK (17 or newer) must exist.
set -euo pipefail

# The npm package kotlin-compiler ships kotlinc, the Kotlin standard library,
# kotlin-test and kotlinx-coroutines-core-jvm.jar (1.8.0 in 2.4.20).
KOTLIN_COMPILER_VERSION="2.4.20"
DEBIAN_PACKAGES=(libjna-java junit4)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/.tools"

is_installed() {
    local status
    status="$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]]
}

install_debian_packages() {
    local missing=()
    local package
    for package in "${DEBIAN_PACKAGES[@]}"; do
        if ! is_installed "$package"; then
            missing+=("$package")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "Debian packages already installed: ${DEBIAN_PACKAGES[*]}"
        return
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "error: missing Debian packages ${missing[*]}; run this script as root" >&2
        exit 1
    fi

    # A fresh image may have no package lists, and then apt-get cannot find
    # any package; update only in that case so repeated runs stay offline.
    for package in "${missing[@]}"; do
        if ! apt-cache show "$package" >/dev/null 2>&1; then
            echo "Updating the apt package lists"
            apt-get update
            break
        fi
    done

    echo "Installing Debian packages: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
        # Stale package lists name versions the mirror no longer has.
        echo "apt-get install failed; updating the package lists and retrying once"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

installed_kotlin_version() {
    local manifest="$TOOLS_DIR/node_modules/kotlin-compiler/package.json"
    if [[ -f "$manifest" ]]; then
        node -p "require(process.argv[1]).version" "$manifest"
    fi
}

install_kotlin_compiler() {
    if [[ "$(installed_kotlin_version)" == "$KOTLIN_COMPILER_VERSION" ]]; then
        echo "kotlin-compiler $KOTLIN_COMPILER_VERSION already installed in $TOOLS_DIR"
        return
    fi
    if ! command -v npm >/dev/null; then
        echo "error: npm not found; install Node.js with npm first" >&2
        exit 1
    fi

    echo "Installing kotlin-compiler $KOTLIN_COMPILER_VERSION into $TOOLS_DIR"
    mkdir -p "$TOOLS_DIR"
    npm install --prefix "$TOOLS_DIR" --save-exact --no-audit --no-fund \
        "kotlin-compiler@$KOTLIN_COMPILER_VERSION"
}

install_debian_packages
install_kotlin_compiler

if ! command -v java >/dev/null; then
    echo "warning: java not found; kotlinc and the tests need a JDK (17 or newer)" >&2
fi
"$TOOLS_DIR/node_modules/kotlin-compiler/bin/kotlinc" -version 2>&1
