//! Gzip compression of push bodies (`Content-Encoding: gzip`, RFC 9110 section 8.4.1).

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::error::{Error, Result};

/// The `Content-Encoding` value of a compressed body.
pub(crate) const GZIP: &str = "gzip";

/// Bodies shorter than this are sent as they are: gzip adds 18 bytes of header and trailer,
/// which a small body does not win back.
pub(crate) const MIN_COMPRESSED_BYTES: usize = 256;

/// Compresses `body` with gzip at the default level (6).
///
/// NOTE: this runs on the calling async task; a full 1 MiB batch takes milliseconds of CPU.
pub(crate) fn gzip(body: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .map_err(|error| Error::invalid("request", format!("failed to gzip the body: {error}")))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn gzip_round_trips_and_shrinks_json() {
        let body = "{\"kind\":\"fix\",\"latitude\":45.7640,\"longitude\":4.8356},".repeat(200);

        let compressed = gzip(body.as_bytes()).unwrap();

        assert!(compressed.len() < body.len() / 5, "{} of {} bytes", compressed.len(), body.len());
        let mut restored = String::new();
        flate2::read::GzDecoder::new(compressed.as_slice()).read_to_string(&mut restored).unwrap();
        assert_eq!(restored, body);
    }
}
