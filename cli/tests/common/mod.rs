//! Helpers shared by the integration tests: running the built `vigil` binary and finding
//! the shared data folder.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `vigil` with these arguments and waits for it.
pub fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the vigil binary could not be started")
}

/// Returns stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `vigil` expecting success and returns its stdout parsed as JSON.
pub fn vigil_json(args: &[&str]) -> serde_json::Value {
    let output = vigil(args);
    assert!(
        output.status.success(),
        "vigil {args:?} exited with {:?}\nstderr:\n{}",
        output.status.code(),
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("vigil {args:?} printed invalid JSON ({error}):\n{}", stdout(&output))
    })
}

/// Returns the folder of real recorded tracks: `$VIGIL_DATA_DIR` when set, else
/// `shared/data` next to the repository.
///
/// When it is missing the test is skipped with a message, except in CI (`CI=true`), where
/// a missing folder fails the test: there the data must be present.
pub fn data_dir() -> Option<PathBuf> {
    let folder = match std::env::var_os("VIGIL_DATA_DIR") {
        Some(folder) => PathBuf::from(folder),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    };
    if folder.join("SOURCES.md").is_file() {
        return Some(folder);
    }

    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!(
            "the shared data folder was not found at {}; CI needs it to replay real tracks \
             (set VIGIL_DATA_DIR to its path if it is elsewhere)",
            folder.display()
        );
    }
    eprintln!("skipped: the shared data folder was not found at {}", folder.display());
    None
}

/// Returns the group with this reason (or flag code) from a `rejected` or `flagged` list.
pub fn group<'a>(
    report: &'a serde_json::Value,
    list: &str,
    reason: &str,
) -> Option<&'a serde_json::Value> {
    report[list].as_array()?.iter().find(|group| group["reason"] == reason)
}

/// Returns the count of a group, 0 when the group is absent.
pub fn count(report: &serde_json::Value, list: &str, reason: &str) -> u64 {
    group(report, list, reason).and_then(|group| group["count"].as_u64()).unwrap_or(0)
}
