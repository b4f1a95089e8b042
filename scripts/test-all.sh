#!/usr/bin/env bash
# Runs every test of Vigil: the Rust unit and end-to-end tests of the whole workspace,
# then the Kotlin tests of the generated bindings on the JVM. Installs what the Kotlin
# tests need first (see scripts/install-test-tools.sh; installing needs root).
#
# Tests that read the real tracks in ../shared/data fail when it is missing and CI=true,
# and report that they were skipped otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/install-test-tools.sh

echo "== Rust tests (cargo test --workspace)"
cargo test --workspace --all-targets

echo "== Kotlin tests of the generated bindings"
scripts/test-kotlin.sh
