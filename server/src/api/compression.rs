//! Request bodies sent with `Content-Encoding: gzip`, decompressed before any handler reads
//! them, with the body limit applied to the decompressed size.

use std::io::Read;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use axum::middleware::Next;
use axum::response::Response;
use flate2::read::GzDecoder;

use super::MAX_BODY_BYTES;
use super::error::ApiError;

/// Replaces a gzip-compressed request body with its decompressed bytes. Bodies without a
/// `Content-Encoding` header, or with `identity`, pass through unchanged.
///
/// A compressed body that decompresses to more than [`MAX_BODY_BYTES`] is rejected with
/// `413 payload_too_large` once that many bytes are produced, so a small "zip bomb" never
/// takes more memory than a plain body could.
pub(crate) async fn decompress_request(request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(encoding) = request.headers().get(CONTENT_ENCODING) else {
        return Ok(next.run(request).await);
    };
    let encoding = encoding.to_str().unwrap_or_default().trim().to_ascii_lowercase();
    if encoding == "identity" {
        return Ok(next.run(request).await);
    }
    if encoding != "gzip" {
        return Err(ApiError::unsupported_encoding(format!(
            "Content-Encoding {encoding:?} is not supported; send gzip or no Content-Encoding"
        )));
    }

    let (mut parts, body) = request.into_parts();
    let compressed = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::payload_too_large(format!(
            "the compressed request body is larger than {MAX_BODY_BYTES} bytes; \
             send fewer records per request"
        ))
    })?;
    let decompressed = gunzip(&compressed, MAX_BODY_BYTES)?;

    parts.headers.remove(CONTENT_ENCODING);
    parts.headers.insert(CONTENT_LENGTH, decompressed.len().into());
    Ok(next.run(Request::from_parts(parts, Body::from(decompressed))).await)
}

/// Decompresses a gzip body, failing once it passes `limit` bytes.
///
/// NOTE: this runs on the async worker; at most `limit` bytes (4 MiB) are inflated, which
/// takes milliseconds.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut decoder = GzDecoder::new(compressed).take(bound);
    let mut decompressed = Vec::new();
    decoder.read_to_end(&mut decompressed).map_err(|error| {
        ApiError::invalid_request(format!("the body is not valid gzip: {error}"))
    })?;

    if decompressed.len() > limit {
        return Err(ApiError::payload_too_large(format!(
            "the request body decompresses to more than {limit} bytes; \
             send fewer records per request"
        )));
    }
    Ok(decompressed)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(body: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(body).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gunzip_restores_body_within_limit() {
        let body = b"{\"records\":[]}".repeat(100);

        let restored = gunzip(&gzip(&body), body.len()).unwrap();

        assert_eq!(restored, body);
    }

    #[test]
    fn gunzip_stops_at_limit() {
        let bomb = gzip(&vec![b' '; 1_000_001]);

        let error = gunzip(&bomb, 1_000_000).unwrap_err();

        assert_eq!(error.status().as_u16(), 413);
    }

    #[test]
    fn gunzip_rejects_non_gzip() {
        let error = gunzip(b"{\"records\":[]}", 1_000).unwrap_err();

        assert_eq!(error.status().as_u16(), 400);
    }
}
