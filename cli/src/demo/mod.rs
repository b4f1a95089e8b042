//! `vigil demo`: one simulated shift against the reference server, in-process.
//!
//! The server runs on 127.0.0.1 with a temporary database and a fictional depot. The
//! device runs on a [`ManualClock`], so the patrol of about nine minutes of simulated time
//! runs as fast as the store can write it.
//!
//! The script covers what a shift report must show: accepted scans, a missed checkpoint, a
//! scan refused as too far, incidents and a panic alert sent on the fast path. It also
//! stops the server halfway, goes on capturing offline, and checks that nothing is lost.

mod patrol;
mod site;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use vigil_core::wording::Language;
use vigil_core::{Clock, Config, ManualClock, PanicOutcome, SystemClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};

use self::patrol::{Patrol, SplitMix64, Walk};
use self::site::{SITE_ID, demo_site};
use crate::error::{CliError, Context as _};
use crate::report::{ShiftSummary, field};

const DEVICE_ID: &str = "demo-phone-01";
const GUARD_ID: &str = "guard-0042";
const ENROLLMENT_CODE: &str = "demo-enrollment-code";

/// Options of the demo.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Seed of the GPS noise, so a run can be repeated exactly.
    pub seed: u64,
    /// The language of refusal texts.
    pub language: Language,
}

/// The sync side of the demo: what the server confirmed, and the outage check.
#[derive(Debug, Clone, Serialize)]
pub struct SyncResults {
    /// Wall time from raising the panic alert until the server confirmed it, in
    /// milliseconds. `None` means the fast path failed, so the alert waited for the next
    /// sync.
    pub panic_delivery_ms: Option<u64>,
    /// The error `sync_now` returned while the server was down.
    pub offline_sync_error: String,
    /// Records waiting in the outbox during the outage, all kept.
    pub queued_during_outage: u64,
    /// Records the server stores for the demo device after the final sync.
    pub server_records: u64,
    /// Records on the device, in every state.
    pub device_captured: u64,
    /// Records on the device that the server acknowledged.
    pub device_synced: u64,
    /// Records on the device still waiting in the outbox.
    pub device_pending: u64,
    /// Wall time of the whole demo, in milliseconds.
    pub wall_time_ms: u64,
}

/// The outcome of the demo.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The seed used.
    pub seed: u64,
    /// The sync results and checks.
    pub sync: SyncResults,
    /// The shift as the device stored it.
    pub shift: ShiftSummary,
    /// Checks that failed; empty when the demo passed.
    pub problems: Vec<String>,
}

impl DemoReport {
    /// Formats the report as text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.shift.write_text(&mut out, true);

        let sync = &self.sync;
        out.push_str("\nSync\n");
        let panic = match sync.panic_delivery_ms {
            Some(ms) => format!("{ms} ms (wall time, fast path)"),
            None => "not at once; it went with the next sync".to_string(),
        };
        field(&mut out, "panic delivered in", panic);
        field(
            &mut out,
            "sync during outage",
            format!("failed as expected ({})", sync.offline_sync_error),
        );
        field(
            &mut out,
            "queued during outage",
            format!("{} records, all kept", sync.queued_during_outage),
        );
        let device = format!(
            "{} captured, {} synced, {} pending",
            sync.device_captured, sync.device_synced, sync.device_pending
        );
        field(&mut out, "device", device);
        let verdict =
            if sync.server_records == sync.device_synced { "matches" } else { "DOES NOT MATCH" };
        field(
            &mut out,
            "server",
            format!("{} records stored for the device ({verdict})", sync.server_records),
        );
        field(&mut out, "wall time", format!("{} ms (seed {})", sync.wall_time_ms, self.seed));

        for problem in &self.problems {
            field(&mut out, "FAILED", problem);
        }
        out
    }
}

/// Runs the demo and returns its report. Failed checks are listed in
/// [`DemoReport::problems`] rather than returned as errors, so the report can still be
/// printed.
///
/// # Errors
///
/// [`CliError`] when a step cannot run at all: the server does not start, the device
/// store fails, or the first sync does not deliver the site.
pub async fn run(options: DemoOptions) -> Result<DemoReport, CliError> {
    let started = Instant::now();
    let folder = tempfile::tempdir().map_err(|error| {
        CliError::Other(format!("failed to create a temporary folder: {error}"))
    })?;
    let server_config = ServerConfig {
        database: folder.path().join("soc.db"),
        sealing_key: std::sync::Arc::new(
            vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(
                &folder.path().join("soc.db"),
            ))
            .context("creating the demo SOC's sealing key")?,
        ),
        enrollment_code: ENROLLMENT_CODE.to_string(),
        sites: vec![demo_site()],
        tag_keys: Vec::new(),
        operator_token: None,
    };
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = vigil_server::start(server_config.clone(), localhost)
        .await
        .context("starting the server")?;
    let address = server.addr();

    // The simulated shift starts at the current second of the real clock.
    let clock = ManualClock::new(SystemClock.now_ms() / 1000 * 1000);
    let mut config = Config::new(DEVICE_ID, GUARD_ID, server.url(), ENROLLMENT_CODE);
    config.retry_base_delay_ms = 50;
    config.sync_attempts = 2;
    config.request_timeout_ms = 2000;
    config.key_encryption_key = Some(crate::passphrase::key_encryption_key(None)?);
    let vigil =
        Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
            .context("opening the device store")?;

    vigil.sync_now().await.context("enrolling and pulling the site")?;
    let site =
        vigil.store().site(SITE_ID).context("reading the assigned site")?.ok_or_else(|| {
            CliError::Check(format!("the first sync did not deliver site {SITE_ID}"))
        })?;
    vigil.start_shift(Some(site.id.clone())).context("starting the shift")?;

    let mut random = SplitMix64(options.seed);
    let walk = Walk::generate(&mut random);
    let mut patrol = Patrol::new(&vigil, &clock, walk, random, server);
    let panic = patrol.play(&site).await?;

    // The server is down now. Nothing may be lost while sync fails.
    let before = vigil.store().sync_counts().context("counting records")?;
    let offline = vigil.sync_now().await;
    let after = vigil.store().sync_counts().context("counting records")?;
    let mut problems = Vec::new();
    let offline_sync_error = match offline {
        Err(error @ vigil_core::Error::Offline(_)) => error.to_string(),
        Err(error) => {
            problems.push(format!(
                "sync during the outage failed with {error}, expected server unreachable"
            ));
            error.to_string()
        }
        Ok(_) => {
            problems.push("sync during the outage succeeded, but the server was down".to_string());
            "no error".to_string()
        }
    };
    if after.captured != before.captured || after.pending != before.pending {
        problems.push(format!(
            "the failed sync changed the store: {} captured and {} pending before, {} and {} after",
            before.captured, before.pending, after.captured, after.pending
        ));
    }

    let server = vigil_server::start(server_config, address)
        .await
        .context("restarting the server on the same address")?;
    vigil.sync_now().await.context("syncing after the outage")?;
    clock.advance(5_000);
    vigil.end_shift().context("ending the shift")?;
    vigil.sync_now().await.context("the final sync")?;

    let counts = vigil.store().sync_counts().context("counting records")?;
    let (server_records, alert_stored) = read_server(&server, &panic.outcome)?;
    server.shutdown().await.context("stopping the server")?;
    if !alert_stored {
        problems.push("the server has no alert for the panic record".to_string());
    }

    let shift = ShiftSummary::collect(&vigil, options.language)?;
    if counts.pending != 0 || shift.pending != 0 {
        problems.push(format!("{} records are still pending after the final sync", counts.pending));
    }
    if server_records != counts.synced {
        problems.push(format!(
            "the server stores {server_records} records for the device, but the device counts {} synced",
            counts.synced
        ));
    }

    let sync = SyncResults {
        panic_delivery_ms: panic.delivery_ms,
        offline_sync_error,
        queued_during_outage: before.pending,
        server_records,
        device_captured: counts.captured,
        device_synced: counts.synced,
        device_pending: counts.pending,
        wall_time_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Ok(DemoReport { seed: options.seed, sync, shift, problems })
}

/// Returns how many records the server stores for the demo device, and whether it stores
/// the panic alert as an alert.
fn read_server(server: &RunningServer, panic: &PanicOutcome) -> Result<(u64, bool), CliError> {
    let store = server.store().context("opening the server database")?;
    let records = store.records_for_device(DEVICE_ID).context("reading the server's records")?;
    let alerts = store.alerts().context("reading the server's alerts")?;
    let alert_stored = alerts.iter().any(|alert| alert.record_id == panic.record_id);
    Ok((records.len() as u64, alert_stored))
}
