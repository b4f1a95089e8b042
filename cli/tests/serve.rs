//! `vigil serve`: the reference server as a process.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{stderr, vigil};

/// Stops the server process when the test ends, even when it fails.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_answers_on_loopback() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let site = folder.path().join("site.geojson");
    std::fs::write(
        &site,
        r#"{"type":"Feature","id":"way/7","properties":{"building":"yes"},
            "geometry":{"type":"Polygon","coordinates":[[[1,1],[1.001,1],[1.001,1.001],[1,1]]]}}"#,
    )
    .unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database.to_str().unwrap(),
            "--site",
            site.to_str().unwrap(),
        ])
        .env("VIGIL_ENROLLMENT_CODE", "test-code")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the vigil binary could not be started");
    let mut server = Server(child);

    // The server logs its URL once it listens.
    let mut log = BufReader::new(server.0.stderr.take().unwrap());
    let mut seen = String::new();
    let address = loop {
        let mut line = String::new();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "the server exited before listening:\n{seen}"
        );
        seen.push_str(&line);
        if let Some(start) = line.find("http://127.0.0.1:") {
            let rest = &line[start + "http://".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
                .unwrap_or(rest.len());
            break rest[..end].to_string();
        }
    };
    assert!(seen.contains("assigning a site"), "{seen}");

    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        stream,
        "GET /v1/assignments?cursor=0 HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();

    assert!(
        reply.starts_with("HTTP/1.1 401"),
        "a request without a token must be refused: {reply}"
    );
    assert!(database.is_file());
}

#[test]
fn serve_needs_an_enrollment_code() {
    let output = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("VIGIL_ENROLLMENT_CODE")
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("--enrollment-code"), "{message}");
}

#[test]
fn serve_rejects_a_bad_site_file() {
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("missing.geojson");
    let database = folder.path().join("soc.db");
    let output = vigil(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        database.to_str().unwrap(),
        "--enrollment-code",
        "test-code",
        "--site",
        missing.to_str().unwrap(),
    ]);
    let message = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("missing.geojson: not found"), "{message}");
}
