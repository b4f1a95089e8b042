//! The fault proxy of the panic alert tests: its resets reach the client as TCP resets,
//! not as orderly closes.

mod panic_support;

use std::io::ErrorKind;
use std::time::Duration;

use panic_support::proxy::{FaultProxy, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a loopback server that accepts connections and never replies, and returns its
/// address.
async fn silent_upstream() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    addr
}

/// Sends the start of a request through the proxy and returns the error of the connect or
/// of the read that follows. A clean end of stream fails the test.
async fn read_error(proxy: &FaultProxy) -> std::io::Error {
    let addr = proxy.url().trim_start_matches("http://").to_owned();
    // A reset that arrives before the connect returns fails the connect itself.
    let mut client = match TcpStream::connect(addr).await {
        Ok(client) => client,
        Err(error) => return error,
    };
    // The proxy may reset before the write, so its outcome does not matter.
    let _ = client.write_all(b"POST /v1/panic HTTP/1.1\r\nhost: 127.0.0.1\r\n").await;

    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), client.read(&mut buffer))
        .await
        .expect("the proxy never ended the connection");
    match read {
        Ok(count) => panic!("the connection ended with {count} bytes read, not a reset"),
        Err(error) => error,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_connection_is_reset() {
    let upstream = silent_upstream().await;
    let faults = Faults { reset_after: Some(Duration::from_millis(200)), ..Faults::default() };
    let proxy = FaultProxy::start(upstream, faults).await;

    let error = read_error(&proxy).await;

    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_proxy_resets_connections() {
    let upstream = silent_upstream().await;
    let proxy = FaultProxy::start(upstream, Faults { down: true, ..Faults::default() }).await;

    let error = read_error(&proxy).await;

    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
}
