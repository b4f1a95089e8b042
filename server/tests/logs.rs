//! What the server writes to its log: starts, stops and errors, but no incident text,
//! coordinates, tokens or guard ids.

mod support;

use std::io;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::{TestServer, incident, panic_alert, record};
use tracing_subscriber::fmt::MakeWriter;
use vigil_core::model::Record;

/// An in-memory log sink shared by every writer the subscriber makes.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const SECRET_TEXT: &str = "Intruder climbed the north fence";

/// The test's runtime has one thread, so the thread-local subscriber receives the events of every handler.
/// Work on the blocking pool logs nothing sensitive and is not captured.
#[tokio::test]
async fn logs_omit_private_data() {
    let buffer = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_env_filter("vigil_server=trace")
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let report = record("phone-1", 1, incident(SECRET_TEXT));
    let changed_text = Record { body: incident("a different text"), ..report.clone() };
    let panic_with_taken_id = Record { body: panic_alert(), ..report.clone() };
    let batch = test.client.push_request(&[report.clone(), record("phone-1", 2, panic_alert())]);
    test.client.post("/v1/records", Some(&token), &batch).await;
    let conflicts = test.client.push_request(&[changed_text]);
    test.client.post("/v1/records", Some(&token), &conflicts).await;
    test.client
        .post("/v1/panic", Some(&token), &test.client.panic_request(&panic_with_taken_id))
        .await;
    let quoted =
        test.client.post("/v1/records", Some(&token), &json!({ "records": SECRET_TEXT })).await;
    test.client
        .post(
            "/v1/panic",
            Some(&token),
            &test.client.panic_request(&record("phone-1", 3, panic_alert())),
        )
        .await;
    test.server.shutdown().await.unwrap();

    let logs = buffer.contents();
    assert!(quoted.error_message().contains(SECRET_TEXT), "the reply quotes the client's body");
    assert!(logs.contains("vigil-server started"), "{logs}");
    assert!(logs.contains("vigil-server stopped"), "{logs}");
    assert!(logs.contains("PANIC ALERT"), "{logs}");
    assert!(logs.contains(r#"first_code="id_conflict""#), "{logs}");
    assert!(logs.contains(r#"status=409 code="id_conflict""#), "{logs}");
    assert!(logs.contains(r#"status=400 code="invalid_request""#), "{logs}");
    for private in [SECRET_TEXT, "a different text", token.as_str(), "guard-7", "45.76", "4.83"] {
        assert!(!logs.contains(private), "the log contains {private:?}:\n{logs}");
    }
}
