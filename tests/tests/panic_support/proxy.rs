//! A fault-injecting TCP proxy on loopback, between a device and the reference server.
//!
//! It adds latency with jitter and a bandwidth limit to every chunk, resets connections
//! after a set lifetime, refuses connections while "down", and can hold back requests that
//! start with a given prefix (such as `POST /v1/records`) until released, to keep an upload
//! in progress for as long as a test needs.
//!
//! NOTE: this is a small proxy of our own rather than the `noxious` crate (version 1.0.4
//! depends on tokio-util 0.6 and mockall_double, and its toxics cannot hold back requests
//! by their first bytes).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The faults the proxy applies; change them at any time with [`FaultProxy::set`].
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Delay added to every chunk in each direction.
    pub latency: Duration,
    /// The delay varies uniformly by up to this much either side of `latency`.
    pub jitter: Duration,
    /// Bandwidth limit per connection and direction, in bytes per second.
    pub bytes_per_second: Option<u64>,
    /// Connections are reset (TCP RST) after living this long.
    pub reset_after: Option<Duration>,
    /// New connections are reset at once, as by a server that is down.
    pub down: bool,
    /// Requests whose first bytes start with this prefix wait until [`FaultProxy::release`].
    pub hold_prefix: Option<Vec<u8>>,
    /// Requests whose first bytes start with this prefix are counted, and
    /// [`FaultProxy::counted`] returns the count.
    pub count_prefix: Option<Vec<u8>>,
}

/// A running proxy; dropping it stops accepting connections.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    released: watch::Sender<bool>,
    held: Arc<AtomicU64>,
    counted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 that forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let faults = Arc::new(Mutex::new(faults));
        let (released, release_watch) = watch::channel(false);
        let held = Arc::new(AtomicU64::new(0));
        let counted = Arc::new(AtomicU64::new(0));

        let shared = (faults.clone(), release_watch, held.clone(), counted.clone());
        let task = tokio::spawn(async move {
            let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
            while let Ok((client, _)) = listener.accept().await {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (faults, release_watch, held, counted) = shared.clone();
                let marks = Marks { released: release_watch, held, counted };
                tokio::spawn(serve(client, upstream, faults, marks, seed));
            }
        });
        Self { addr, faults, released, held, counted, task }
    }

    /// Returns the proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults; connections already open pick up the new values on their next
    /// chunk.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// Lets every held request through, now and from now on.
    pub fn release(&self) {
        let _ = self.released.send(true);
    }

    /// Returns how many requests have been held back so far.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    /// Returns how many requests starting with `count_prefix` have passed so far.
    pub fn counted(&self) -> u64 {
        self.counted.load(Ordering::SeqCst)
    }
}

/// The proxy's shared release signal and request counters, for one connection.
struct Marks {
    released: watch::Receiver<bool>,
    held: Arc<AtomicU64>,
    counted: Arc<AtomicU64>,
}

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    marks: Marks,
    seed: u64,
) {
    let current = faults.lock().unwrap().clone();
    if current.down {
        reset(client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();

    let hold = Hold {
        prefix: current.hold_prefix,
        released: marks.released,
        held: marks.held,
        count_prefix: current.count_prefix,
        counted: marks.counted,
    };
    let upload = pump(&mut client_read, &mut server_write, &faults, seed, Some(&hold));
    let download = pump(&mut server_read, &mut client_write, &faults, seed ^ 0xABCD, None);
    let both = async {
        tokio::join!(upload, download);
    };
    let expired = match current.reset_after {
        Some(lifetime) => tokio::time::timeout(lifetime, both).await.is_err(),
        None => {
            both.await;
            false
        }
    };

    // When the lifetime ran out, both sides see the connection reset mid-flight, as with
    // a dropped mobile link. Otherwise dropping the halves closes the sockets in order.
    if expired {
        if let Ok(client) = client_read.reunite(client_write) {
            reset(client);
        }
        if let Ok(server) = server_read.reunite(server_write) {
            reset(server);
        }
    }
}

/// Requests to hold back or count on one connection. HTTP/1.1 clients write each request
/// of a kept-alive connection after the previous reply, so a request starts a chunk.
struct Hold {
    prefix: Option<Vec<u8>>,
    released: watch::Receiver<bool>,
    held: Arc<AtomicU64>,
    count_prefix: Option<Vec<u8>>,
    counted: Arc<AtomicU64>,
}

/// Copies chunks from `from` to `to`, delaying each by the latency and the bandwidth
/// limit in force at that moment.
async fn pump(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    faults: &Mutex<Faults>,
    mut seed: u64,
    hold: Option<&Hold>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(read) => read,
        };
        if let Some(hold) = hold
            && let Some(prefix) = &hold.count_prefix
            && buffer[..read].starts_with(prefix)
        {
            hold.counted.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(hold) = hold
            && let Some(prefix) = &hold.prefix
            && buffer[..read].starts_with(prefix)
            && !*hold.released.borrow()
        {
            hold.held.fetch_add(1, Ordering::SeqCst);
            let mut released = hold.released.clone();
            let _ = released.wait_for(|released| *released).await;
        }

        let current = faults.lock().unwrap().clone();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = jittered(current.latency, current.jitter, seed);
        let transfer = current
            .bytes_per_second
            .map(|rate| Duration::from_secs_f64(read as f64 / rate as f64))
            .unwrap_or_default();
        tokio::time::sleep(delay + transfer).await;

        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

fn jittered(latency: Duration, jitter: Duration, random: u64) -> Duration {
    if jitter.is_zero() {
        return latency;
    }
    let fraction = (random % 10_001) as f64 / 10_000.0 * 2.0 - 1.0;
    let millis = latency.as_secs_f64() * 1000.0 + fraction * jitter.as_secs_f64() * 1000.0;
    Duration::from_secs_f64(millis.max(0.0) / 1000.0)
}

/// Closes a socket with a TCP reset instead of an orderly close.
fn reset(socket: TcpStream) {
    let _ = socket.set_zero_linger();
    drop(socket);
}
