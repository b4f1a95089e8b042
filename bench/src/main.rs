//! `vigil-bench`: measures Vigil next to a baseline in the same run, so the ratios hold on
//! a shared, noisy machine. Run with `cargo run --release -p vigil-bench`.

mod alerts;
mod attachment;
mod capture;
mod catch_up;
mod location;
mod sync;
mod upload;

use clap::{Parser, ValueEnum};

/// Benchmarks of Vigil, each against a baseline measured in the same run.
#[derive(Debug, Parser)]
struct Options {
    /// Which benchmark to run.
    #[arg(value_enum, default_value = "all")]
    which: Which,
    /// Rounds per benchmark; each round measures Vigil and the baseline back to back and
    /// the median round is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Alerts raised per loopback case of the alerts benchmark.
    #[arg(long, default_value_t = 1_000)]
    alerts: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    All,
    Capture,
    Location,
    Sync,
    /// Only the bytes on the wire per hour of a shift, which do not depend on the build
    /// profile.
    ShiftBytes,
    Attachment,
    Alerts,
}

fn main() {
    let options = Options::parse();
    // Every HTTP client of the benchmarks, baselines included, uses rustls with `ring`.
    vigil_core::sync::install_default_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("failed to start the tokio runtime");

    if matches!(options.which, Which::All | Which::Capture) {
        capture::run(options.rounds);
    }
    if matches!(options.which, Which::All | Which::Location) {
        location::run(options.rounds);
    }
    if matches!(options.which, Which::All | Which::Sync) {
        runtime.block_on(sync::run(options.rounds));
        runtime.block_on(catch_up::run_memory());
        runtime.block_on(catch_up::run_shift_bytes());
    }
    if options.which == Which::ShiftBytes {
        runtime.block_on(catch_up::run_shift_bytes());
    }
    if matches!(options.which, Which::All | Which::Attachment) {
        attachment::run(options.rounds);
        runtime.block_on(upload::run(options.rounds));
    }
    if matches!(options.which, Which::All | Which::Alerts) {
        runtime.block_on(alerts::run(options.alerts));
    }
}

/// Returns the median of the values.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
