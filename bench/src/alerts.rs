//! Time from `raise_panic` to the SOC's delivery acknowledgement, next to a bare HTTP round
//! trip to the same server, on loopback and through a proxy that emulates a poor mobile
//! link.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use uuid::Uuid;
use vigil_core::alert::{AlertListener, AlertState, AlertStatus, SmsSender};
use vigil_core::model::{Fix, FixSource};
use vigil_core::{Clock, Config, Vigil};
use vigil_server::{RunningServer, ServerConfig};

#[path = "../../tests/tests/panic_support/proxy.rs"]
#[allow(dead_code)]
mod proxy;

/// Records queued on the device for the backlog case.
const BACKLOG: usize = 10_000;

/// Alerts raised through the poor link.
const POOR_LINK_ALERTS: usize = 1_000;

/// Time between two alerts raised through the poor link. Each alert takes about a second
/// there, so they overlap: one after another, 1,000 alerts would take over 15 minutes.
const POOR_LINK_SPACING: Duration = Duration::from_millis(200);

/// Bare round trips through the poor link, one after another.
const POOR_LINK_ROUND_TRIPS: usize = 100;

/// The maximum wait for the poor-link alerts after the last raise. Alerts not delivered
/// by then are missing from the delivered count.
const POOR_LINK_PATIENCE: Duration = Duration::from_secs(300);

const T0: i64 = 1_764_806_400_000;

/// Resend interval on loopback. Delivered alerts are resent until an operator acknowledges
/// them, and nobody does in this benchmark, so a long interval keeps the resends of 1,000
/// alerts from competing with new ones. No loopback send fails, so nothing waits for it.
const LOOPBACK_INTERVAL: u64 = 60_000;

/// Sends the time each alert was delivered.
struct Deliveries(mpsc::UnboundedSender<(Uuid, Instant)>);

impl AlertListener for Deliveries {
    fn on_alert_state(&self, status: AlertStatus) {
        if status.state == AlertState::Delivered {
            let _ = self.0.send((status.record_id, Instant::now()));
        }
    }
}

pub async fn run(alerts: usize) {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let server = start_server(&folder).await;

    let round_trips = bare_round_trips(&server.url(), alerts).await;
    let without_backlog =
        raise_and_wait(&folder, "idle", &server.url(), alerts, 0, LOOPBACK_INTERVAL).await;
    let with_backlog =
        raise_and_wait(&folder, "backlog", &server.url(), alerts, BACKLOG, LOOPBACK_INTERVAL).await;

    let and_send = raise_and_send_times(&folder, &server.url(), alerts).await;

    println!("alerts: {alerts} alerts per case, one at a time, loopback");
    print_percentiles("bare HTTP round trip (GET /v1/health)", &round_trips);
    print_percentiles("raise_panic -> delivered, empty outbox", &without_backlog);
    print_percentiles(&format!("raise_panic -> delivered, {BACKLOG} queued"), &with_backlog);
    print_percentiles("raise_panic_and_send returns, empty outbox", &and_send);
    println!(
        "  ratio p99 with backlog / bare round trip p99:      {:>8.1}x",
        percentile(&with_backlog, 0.99) / percentile(&round_trips, 0.99)
    );

    let faults = proxy::Faults {
        latency: Duration::from_millis(300),
        jitter: Duration::from_millis(150),
        bytes_per_second: Some(64 * 1024),
        reset_after: Some(Duration::from_secs(5)),
        ..proxy::Faults::default()
    };
    let link = proxy::FaultProxy::start(server.addr(), faults).await;
    let poor_round_trips = bare_round_trips(&link.url(), POOR_LINK_ROUND_TRIPS).await;
    let poor = raise_overlapping(&folder, &link.url(), server.database().to_path_buf()).await;
    println!(
        "alerts: {POOR_LINK_ALERTS} alerts through the proxy (300 +/- 150 ms per chunk, 64 KB/s \
         per connection, connections reset after 5 s), one raised every {} ms, each \
         acknowledged by the operator once delivered",
        POOR_LINK_SPACING.as_millis()
    );
    print_mean_p95(
        &format!("bare HTTP round trip, {POOR_LINK_ROUND_TRIPS} in a row"),
        &poor_round_trips,
    );
    print_mean_p95("raise_panic -> delivered", &poor);
    println!(
        "  delivered: {} of {POOR_LINK_ALERTS}; max {:.0} ms",
        poor.len(),
        poor.iter().copied().fold(0.0, f64::max)
    );

    let delay = Duration::from_millis(SMS_DELAY_MS);
    let sleeps = timed_sleeps(delay, SMS_ALERTS).await;
    let fallbacks = sms_fallback_times(&folder, SMS_ALERTS).await;
    println!(
        "alerts: {SMS_ALERTS} alerts with the server unreachable, SMS fallback after \
         {SMS_DELAY_MS} ms"
    );
    print_mean_max(&format!("baseline: tokio sleep of {SMS_DELAY_MS} ms"), &sleeps);
    print_mean_max("raise_panic -> SMS requested", &fallbacks);
    let worst = fallbacks.iter().copied().fold(0.0, f64::max);
    println!(
        "  worst overshoot past the delay: {:.1} ms; ratio mean SMS / mean sleep: {:.3}x",
        worst - SMS_DELAY_MS as f64,
        mean(&fallbacks) / mean(&sleeps)
    );
}

/// The SMS fallback delay in the benchmark, shorter than the 30 s default to keep the run
/// short; the lane's timer does not depend on its length.
const SMS_DELAY_MS: u64 = 2_000;

/// Alerts raised for the SMS fallback case, one after another.
const SMS_ALERTS: usize = 10;

/// Sends the time of each SMS request.
struct SmsTimes(mpsc::UnboundedSender<Instant>);

impl SmsSender for SmsTimes {
    fn send_sms(&self, _number: String, _text: String) {
        let _ = self.0.send(Instant::now());
    }

    fn place_call(&self, _number: String) {}
}

/// Times `count` sleeps of `delay` on the runtime, in milliseconds: the timer baseline.
async fn timed_sleeps(delay: Duration, count: usize) -> Vec<f64> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        tokio::time::sleep(delay).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times
}

/// Raises `count` alerts one after another on a device whose server is unreachable (a
/// loopback port nothing listens on), and returns each alert's time until its SMS was
/// requested, in milliseconds.
async fn sms_fallback_times(folder: &tempfile::TempDir, count: usize) -> Vec<f64> {
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("failed to bind");
    let url = format!("http://{}", unused.local_addr().expect("no local address"));
    drop(unused);

    let mut config = Config::new("bench-sms", "bench-guard", url, "bench");
    config.sms_fallback_after_ms = SMS_DELAY_MS;
    config.sms_fallback_number = Some("+15550100".into());
    let vigil =
        Vigil::open(folder.path().join("sms.db"), config).expect("failed to open the device");
    let (sender, mut requests) = mpsc::unbounded_channel();
    vigil.set_sms_sender(Some(Arc::new(SmsTimes(sender))));
    vigil.start_alert_lane(&tokio::runtime::Handle::current());

    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        vigil.raise_panic().expect("failed to store an alert");
        let at = requests.recv().await.expect("the SMS sender is gone");
        times.push((at - started).as_secs_f64() * 1000.0);
    }
    times
}

async fn start_server(folder: &tempfile::TempDir) -> RunningServer {
    let config = ServerConfig::new(folder.path().join("soc.db"), "bench").unwrap();
    vigil_server::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("failed to start the server")
}

/// Times `count` GET /v1/health requests on one kept-alive client, in milliseconds.
async fn bare_round_trips(url: &str, count: usize) -> Vec<f64> {
    vigil_core::sync::install_default_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("failed to build an HTTP client");
    let mut times = Vec::with_capacity(count);
    while times.len() < count {
        let started = Instant::now();
        let reply = client.get(format!("{url}/v1/health")).send().await;
        if let Ok(reply) = reply
            && reply.bytes().await.is_ok()
        {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times
}

/// Raises `count` alerts one after another on a fresh device with `backlog` queued fix
/// records, and returns each alert's time to delivery in milliseconds.
async fn raise_and_wait(
    folder: &tempfile::TempDir,
    name: &str,
    url: &str,
    count: usize,
    backlog: usize,
    resend_interval_ms: u64,
) -> Vec<f64> {
    let mut config = Config::new(format!("bench-{name}"), "bench-guard", url, "bench");
    config.alert_resend_interval_ms = resend_interval_ms;
    let vigil = Vigil::open(folder.path().join(format!("{name}.db")), config)
        .expect("failed to open the device");
    if backlog > 0 {
        let fixes = (0..backlog as i64).map(|n| fix(T0 + n * 1_000)).collect();
        vigil.record_fixes(fixes).expect("failed to queue the backlog");
    }
    let (sender, mut deliveries) = mpsc::unbounded_channel();
    vigil.set_alert_listener(Some(Arc::new(Deliveries(sender))));
    vigil.start_alert_lane(&tokio::runtime::Handle::current());

    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let record = vigil.raise_panic().expect("failed to store an alert");
        loop {
            let (id, at) = deliveries.recv().await.expect("the listener is gone");
            if id == record.id {
                times.push((at - started).as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    times
}

/// Times `count` calls of `raise_panic_and_send` one after another on a fresh device with
/// its alert lane running, in milliseconds. Each call waits for the lane's first send.
async fn raise_and_send_times(folder: &tempfile::TempDir, url: &str, count: usize) -> Vec<f64> {
    let mut config = Config::new("bench-and-send", "bench-guard", url, "bench");
    config.alert_resend_interval_ms = LOOPBACK_INTERVAL;
    let vigil =
        Vigil::open(folder.path().join("and-send.db"), config).expect("failed to open the device");
    vigil.start_alert_lane(&tokio::runtime::Handle::current());

    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let outcome = vigil.raise_panic_and_send().await.expect("failed to store an alert");
        assert!(outcome.delivered_at_ms.is_some(), "a loopback alert was not delivered");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times
}

/// Raises [`POOR_LINK_ALERTS`] alerts [`POOR_LINK_SPACING`] apart on a fresh device, and
/// returns the time to delivery of each alert delivered within [`POOR_LINK_PATIENCE`] of
/// the last raise, in milliseconds. An operator acknowledges each alert once it is
/// delivered, as the SOC does, so that the lane stops resending it.
async fn raise_overlapping(folder: &tempfile::TempDir, url: &str, database: PathBuf) -> Vec<f64> {
    let config = Config::new("bench-poor", "bench-guard", url, "bench");
    let vigil =
        Vigil::open(folder.path().join("poor.db"), config).expect("failed to open the device");
    let (sender, mut deliveries) = mpsc::unbounded_channel();
    vigil.set_alert_listener(Some(Arc::new(Deliveries(sender))));
    vigil.start_alert_lane(&tokio::runtime::Handle::current());

    let delivered: Arc<std::sync::Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let collector = tokio::spawn({
        let delivered = delivered.clone();
        async move {
            while let Some((id, at)) = deliveries.recv().await {
                let first_delivery = delivered.lock().unwrap().insert(id, at).is_none();
                if first_delivery {
                    let database = database.clone();
                    let now_ms = vigil_core::SystemClock.now_ms();
                    tokio::task::spawn_blocking(move || {
                        vigil_server::acknowledge_alert(database, id, now_ms)
                    });
                }
            }
        }
    });

    let first = tokio::time::Instant::now();
    let mut raised = Vec::with_capacity(POOR_LINK_ALERTS);
    for n in 0..POOR_LINK_ALERTS {
        tokio::time::sleep_until(first + POOR_LINK_SPACING * n as u32).await;
        let started = Instant::now();
        let record = vigil.raise_panic().expect("failed to store an alert");
        raised.push((record.id, started));
    }

    let deadline = tokio::time::Instant::now() + POOR_LINK_PATIENCE;
    while delivered.lock().unwrap().len() < POOR_LINK_ALERTS
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    collector.abort();

    let delivered = delivered.lock().unwrap();
    raised
        .iter()
        .filter_map(|(id, started)| delivered.get(id).map(|at| (*at - *started).as_secs_f64()))
        .map(|seconds| seconds * 1000.0)
        .collect()
}

fn fix(time_ms: i64) -> Fix {
    Fix {
        latitude: -23.55,
        longitude: -46.633,
        accuracy_m: 8.0,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: time_ms,
    }
}

fn percentile(values: &[f64], fraction: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn print_percentiles(what: &str, times: &[f64]) {
    println!(
        "  {what:<50} p50 {:>8.2} ms   p99 {:>8.2} ms",
        percentile(times, 0.50),
        percentile(times, 0.99)
    );
}

fn print_mean_p95(what: &str, times: &[f64]) {
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!("  {what:<50} mean {:>8.0} ms   p95 {:>8.0} ms", mean, percentile(times, 0.95));
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn print_mean_max(what: &str, times: &[f64]) {
    let max = times.iter().copied().fold(0.0, f64::max);
    println!("  {what:<50} mean {:>8.1} ms   max {:>8.1} ms", mean(times), max);
}
