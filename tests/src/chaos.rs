//! A TCP proxy for 127.0.0.1 that breaks HTTP exchanges on purpose.
//!
//! Each accepted connection draws one [`Fault`] and a trigger point from a seeded random
//! generator. The connection passes bytes through unchanged until the client has sent
//! `trigger` bytes, and then the fault hits the exchange in progress. Every fault ends the
//! connection, so the client opens a new one and draws again.
//!
//! The proxy reads no HTTP beyond its own canned replies, so it needs no knowledge of the
//! protocol. The reference server replies to a push only after its commit, so a fault that
//! waits for the first reply byte hits a request the server has already stored.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::rng::Rng;

/// What happens to a connection once its trigger point is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Nothing: bytes pass both ways until either side closes.
    None,
    /// The connection is reset in the middle of the request upload.
    ResetMidRequest,
    /// The request reaches the server, the first `n` bytes of its reply reach the client,
    /// and the connection is reset.
    ResetMidResponse,
    /// The request reaches the server, which processes it, but the reply is dropped and
    /// the connection reset: a lost acknowledgement.
    LostReply,
    /// The proxy replies `500 Internal Server Error` without forwarding the request.
    Status500,
    /// The request reaches the server, which processes it, and the proxy replaces its
    /// reply with `500 Internal Server Error`.
    Status500AfterProcessing,
    /// The proxy replies `429 Too Many Requests` with the plan's `Retry-After` without
    /// forwarding the request.
    Status429,
}

impl Fault {
    /// Every fault, for drawing and for reports.
    pub const ALL: [Fault; 7] = [
        Fault::None,
        Fault::ResetMidRequest,
        Fault::ResetMidResponse,
        Fault::LostReply,
        Fault::Status500,
        Fault::Status500AfterProcessing,
        Fault::Status429,
    ];
}

/// How often each fault is drawn, and how slow the link is.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// The weight of each fault in [`Fault::ALL`] order; a connection draws a fault with
    /// probability proportional to its weight.
    pub weights: [u32; 7],
    /// The largest trigger point, in bytes sent by the client; each connection draws its
    /// trigger uniformly below it.
    pub max_trigger_bytes: u64,
    /// The largest delay added before forwarding each chunk, in milliseconds; each
    /// connection draws its own delay uniformly up to it.
    pub max_latency_ms: u64,
    /// The `Retry-After` value of [`Fault::Status429`] replies, in seconds.
    pub retry_after_s: u64,
}

impl FaultPlan {
    /// A plan that forwards everything unchanged.
    pub fn healthy() -> Self {
        Self {
            weights: [1, 0, 0, 0, 0, 0, 0],
            max_trigger_bytes: 1,
            max_latency_ms: 0,
            retry_after_s: 0,
        }
    }

    /// A plan that rejects every request with `429 Too Many Requests` and `Retry-After`.
    pub fn throttled(retry_after_s: u64) -> Self {
        Self { weights: [0, 0, 0, 0, 0, 0, 1], retry_after_s, ..Self::healthy() }
    }
}

/// A proxy listening on 127.0.0.1, forwarding to an upstream address.
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    upstream: SocketAddr,
    plan: Mutex<FaultPlan>,
    rng: Mutex<Rng>,
    counts: [AtomicU64; 7],
}

impl ChaosProxy {
    /// Starts a proxy on a free port of 127.0.0.1 in front of `upstream`.
    pub async fn start(upstream: SocketAddr, plan: FaultPlan, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy address");
        let shared = Arc::new(Shared {
            upstream,
            plan: Mutex::new(plan),
            rng: Mutex::new(Rng::new(seed)),
            counts: Default::default(),
        });

        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let connection = Arc::clone(&accepting);
                tokio::spawn(async move { connection.handle(client).await });
            }
        });
        Self { addr, shared, task }
    }

    /// Returns the base URL of the proxy, such as `http://127.0.0.1:40000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the fault plan for the connections accepted from now on.
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.plan.lock().unwrap() = plan;
    }

    /// Returns how many connections drew each fault, in [`Fault::ALL`] order.
    pub fn fault_counts(&self) -> Vec<(Fault, u64)> {
        Fault::ALL
            .iter()
            .zip(&self.shared.counts)
            .map(|(fault, count)| (*fault, count.load(Ordering::Relaxed)))
            .collect()
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The draw of one connection.
#[derive(Debug, Clone, Copy)]
struct Draw {
    fault: Fault,
    trigger: u64,
    reply_bytes: u64,
    latency: Duration,
    retry_after_s: u64,
}

impl Shared {
    fn draw(&self) -> Draw {
        let plan = self.plan.lock().unwrap().clone();
        let mut rng = self.rng.lock().unwrap();

        let total: u32 = plan.weights.iter().sum();
        let mut pick = rng.below(u64::from(total.max(1))) as u32;
        let mut fault = Fault::None;
        for (candidate, weight) in Fault::ALL.iter().zip(plan.weights) {
            if pick < weight {
                fault = *candidate;
                break;
            }
            pick -= weight;
        }

        Draw {
            fault,
            trigger: rng.below(plan.max_trigger_bytes.max(1)),
            reply_bytes: rng.below(2_000),
            latency: Duration::from_millis(rng.below(plan.max_latency_ms + 1)),
            retry_after_s: plan.retry_after_s,
        }
    }

    async fn handle(&self, client: TcpStream) {
        let draw = self.draw();
        let index = Fault::ALL.iter().position(|fault| *fault == draw.fault).unwrap();
        self.counts[index].fetch_add(1, Ordering::Relaxed);

        // The server may be restarting; the client then sees a reset, like a dead link.
        let Ok(server) = TcpStream::connect(self.upstream).await else {
            reset(&client);
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        run_connection(client, server, draw).await;
    }
}

/// Forwards bytes both ways and applies the connection's fault once the client has sent
/// `draw.trigger` bytes.
async fn run_connection(client: TcpStream, server: TcpStream, draw: Draw) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut upload = vec![0u8; 16 * 1024];
    let mut download = vec![0u8; 16 * 1024];
    let mut uploaded: u64 = 0;
    let mut triggered = false;
    let mut reply_forwarded: u64 = 0;

    loop {
        tokio::select! {
            read = client_read.read(&mut upload), if !(triggered && blocks_upload(draw.fault)) => {
                let Ok(count) = read else { break };
                if count == 0 {
                    break;
                }
                tokio::time::sleep(draw.latency).await;

                let mut forward = count;
                if !triggered && draw.fault != Fault::None && uploaded + count as u64 > draw.trigger {
                    triggered = true;
                    forward = (draw.trigger - uploaded) as usize;
                }
                uploaded += count as u64;

                if triggered {
                    match draw.fault {
                        Fault::ResetMidRequest => {
                            let _ = server_write.write_all(&upload[..forward]).await;
                            break;
                        }
                        Fault::Status500 | Fault::Status429 => {
                            let _ = client_write.write_all(&canned_reply(draw)).await;
                            let _ = client_write.shutdown().await;
                            break;
                        }
                        // The rest of the request goes through; the fault hits the reply.
                        _ => forward = count,
                    }
                }
                if server_write.write_all(&upload[..forward]).await.is_err() {
                    break;
                }
            }
            read = server_read.read(&mut download) => {
                let Ok(count) = read else { break };
                if count == 0 {
                    let _ = client_write.shutdown().await;
                    break;
                }
                tokio::time::sleep(draw.latency).await;

                if triggered {
                    match draw.fault {
                        Fault::LostReply => break,
                        Fault::Status500AfterProcessing => {
                            let _ = client_write.write_all(&canned_reply(draw)).await;
                            let _ = client_write.shutdown().await;
                            break;
                        }
                        Fault::ResetMidResponse => {
                            let allowed = draw.reply_bytes.saturating_sub(reply_forwarded);
                            let forward = (count as u64).min(allowed) as usize;
                            let _ = client_write.write_all(&download[..forward]).await;
                            reply_forwarded += forward as u64;
                            if forward < count {
                                break;
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
                if client_write.write_all(&download[..count]).await.is_err() {
                    break;
                }
            }
        }
    }

    // Dropping both halves closes the sockets; a reset makes the failure abrupt, as a
    // dropped mobile link is.
    if let Ok(client) = client_read.reunite(client_write) {
        reset(&client);
    }
}

/// Returns whether the fault stops forwarding the client's bytes once triggered.
fn blocks_upload(fault: Fault) -> bool {
    matches!(fault, Fault::ResetMidRequest | Fault::Status500 | Fault::Status429)
}

fn canned_reply(draw: Draw) -> Vec<u8> {
    let status = match draw.fault {
        Fault::Status429 => format!("429 Too Many Requests\r\nretry-after: {}", draw.retry_after_s),
        _ => "500 Internal Server Error".to_owned(),
    };
    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes()
}

/// Makes the coming close of `stream` a TCP reset instead of an orderly shutdown.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
