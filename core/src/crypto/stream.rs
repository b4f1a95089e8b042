//! Streamed, chunked encryption of attachments (photos, audio, video).
//!
//! The layout is `version (1) | algorithm (1) | chunk size (4, big-endian) | nonce prefix (7)`
//! and then the chunks, each `ciphertext | tag (16)`. Chunk `i` uses the nonce
//! `prefix | i (4 bytes, big-endian) | last (1 byte)`, with `last` set only on the final
//! chunk, in the manner of the STREAM construction (Hoang, Reyhanitabar, Rogaway and Vizár,
//! "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015).
//! A swapped or dropped chunk fails its tag because its index is part of the nonce, and a
//! stream cut at a chunk boundary fails because its new final chunk was not sealed as last.
//! [`encrypt_stream`] keeps two chunks in memory at a time.
//!
//! A record refers to its attachment by the stream's digest: the SHA-256 of the header and
//! every chunk's tag. The tags are MACs of the chunks under the attachment key, so nobody
//! without that key can make another stream with the same digest, and the digest costs one
//! hash over 16 bytes per 64 KiB instead of a second pass over the whole file.

use std::io::{Read, Write};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{Context, SHA256};

use super::{CryptoError, fill_random};

/// Plaintext bytes per chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

const VERSION_1: u8 = 1;
const ALGORITHM_AES_256_GCM: u8 = 1;
const PREFIX_LEN: usize = 7;
const HEADER_LEN: usize = 2 + 4 + PREFIX_LEN;
const TAG_LEN: usize = 16;

/// The plaintext length and digest of a stream; a record refers to its attachment by them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// Plaintext bytes.
    pub plaintext_bytes: u64,
    /// SHA-256 of the header and all chunk tags, lowercase hex.
    pub digest: String,
}

/// Encrypts `input` to `output` with a 32-byte attachment key, binding every chunk to
/// `context` (such as the attachment id).
///
/// Each chunk is read into one buffer, sealed there, and written with its tag in one
/// `write_all` call, so `output` needs no buffering of its own.
///
/// # Errors
///
/// [`CryptoError::Io`] if reading or writing fails, [`CryptoError::Random`] if no nonce
/// prefix can be drawn.
pub fn encrypt_stream(
    key: &[u8],
    context: &[u8],
    mut input: impl Read,
    mut output: impl Write,
) -> Result<StreamSummary, CryptoError> {
    let mut sealer = StreamSealer::new(key, context)?;
    output.write_all(sealer.header())?;

    let mut current = vec![0u8; CHUNK_BYTES + TAG_LEN];
    let mut current_len = read_full(&mut input, &mut current[..CHUNK_BYTES])?;
    let mut next = vec![0u8; CHUNK_BYTES + TAG_LEN];

    loop {
        // Read ahead, because sealing a chunk needs to tell whether it is the last one.
        let next_len = if current_len == CHUNK_BYTES {
            read_full(&mut input, &mut next[..CHUNK_BYTES])?
        } else {
            0
        };
        let last = next_len == 0;

        let tag = sealer.seal_chunk(&mut current[..current_len], last)?;
        current[current_len..current_len + TAG_LEN].copy_from_slice(&tag);
        output.write_all(&current[..current_len + TAG_LEN])?;

        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
    }

    output.flush()?;
    sealer.finish()
}

/// Seals a stream chunk by chunk in the caller's buffers, for callers that hold the
/// plaintext already and want no copies. [`encrypt_stream`] is built on it; the bytes
/// are the same.
///
/// Write [`StreamSealer::header`], then each chunk sealed by
/// [`StreamSealer::seal_chunk`] followed by its tag, in order.
pub struct StreamSealer {
    key: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    header: [u8; HEADER_LEN],
    aad: Vec<u8>,
    digest: Context,
    index: u32,
    total: u64,
    sealed_last: bool,
}

impl StreamSealer {
    /// Starts a stream under a 32-byte attachment key, bound to `context`, with a fresh
    /// random nonce prefix.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] for a key that is not 32 bytes; [`CryptoError::Random`]
    /// if no nonce prefix can be drawn.
    pub fn new(key: &[u8], context: &[u8]) -> Result<Self, CryptoError> {
        let key = aead_key(key)?;
        let mut prefix = [0u8; PREFIX_LEN];
        fill_random(&mut prefix)?;

        let mut header = [0u8; HEADER_LEN];
        header[0] = VERSION_1;
        header[1] = ALGORITHM_AES_256_GCM;
        header[2..6].copy_from_slice(&(CHUNK_BYTES as u32).to_be_bytes());
        header[6..].copy_from_slice(&prefix);
        let aad = [context, &header].concat();
        let mut digest = Context::new(&SHA256);
        digest.update(&header);

        Ok(Self { key, prefix, header, aad, digest, index: 0, total: 0, sealed_last: false })
    }

    /// Returns the stream's header, which comes before the first chunk.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Encrypts one chunk in place and returns its tag. Every chunk but the last must contain
    /// exactly [`CHUNK_BYTES`]. The last contains at most that, and may be empty only
    /// when it is the only one.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] for a chunk of the wrong size, a chunk after the last,
    /// or a stream longer than 2^32 chunks.
    pub fn seal_chunk(
        &mut self,
        chunk: &mut [u8],
        last: bool,
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        if self.sealed_last {
            return Err(CryptoError::Malformed("a chunk after the last one".into()));
        }
        let size_ok = if last {
            chunk.len() <= CHUNK_BYTES && (self.index == 0 || !chunk.is_empty())
        } else {
            chunk.len() == CHUNK_BYTES
        };
        if !size_ok {
            return Err(CryptoError::Malformed(format!("a chunk of {} bytes", chunk.len())));
        }

        let nonce = chunk_nonce(&self.prefix, self.index, last);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&self.aad), chunk)
            .map_err(|_| CryptoError::Malformed("chunk too long".into()))?;
        let tag: [u8; TAG_LEN] = tag.as_ref().try_into().expect("AES-GCM tags are 16 bytes");

        self.digest.update(&tag);
        self.total += chunk.len() as u64;
        self.sealed_last = last;
        if !last {
            self.index = self
                .index
                .checked_add(1)
                .ok_or_else(|| CryptoError::Malformed("stream longer than 2^32 chunks".into()))?;
        }
        Ok(tag)
    }

    /// Returns the stream's plaintext length and digest.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] if no chunk was sealed as the last one.
    pub fn finish(self) -> Result<StreamSummary, CryptoError> {
        if !self.sealed_last {
            return Err(CryptoError::Malformed("the stream has no last chunk".into()));
        }
        Ok(StreamSummary {
            plaintext_bytes: self.total,
            digest: hex(self.digest.finish().as_ref()),
        })
    }
}

/// Decrypts a stream written by [`encrypt_stream`] to `output`.
///
/// On an error, `output` may already hold the plaintext of the chunks before the failure:
/// the caller must discard it.
///
/// # Errors
///
/// [`CryptoError::Locked`] for a wrong key or context, a changed, swapped, dropped or
/// truncated chunk; [`CryptoError::Unsupported`] or [`CryptoError::Malformed`] for a
/// header this version cannot read; [`CryptoError::Io`] if reading or writing fails.
pub fn decrypt_stream(
    key: &[u8],
    context: &[u8],
    mut input: impl Read,
    mut output: impl Write,
) -> Result<StreamSummary, CryptoError> {
    let key = aead_key(key)?;
    let mut header = [0u8; HEADER_LEN];
    if read_full(&mut input, &mut header)? != HEADER_LEN {
        return Err(CryptoError::Malformed("stream shorter than its header".into()));
    }
    let chunk_bytes = chunk_size(&header)?;
    let prefix: [u8; PREFIX_LEN] = header[6..].try_into().expect("the header has 7 prefix bytes");
    let aad = [context, &header[..]].concat();

    let sealed_len = chunk_bytes + TAG_LEN;
    let mut digest = Context::new(&SHA256);
    digest.update(&header);
    let mut total = 0u64;
    let mut current = vec![0u8; sealed_len];
    let mut current_len = read_full(&mut input, &mut current)?;
    let mut next = vec![0u8; sealed_len];
    let mut index = 0u32;

    loop {
        if current_len < TAG_LEN {
            return Err(CryptoError::Locked);
        }
        let next_len =
            if current_len == sealed_len { read_full(&mut input, &mut next)? } else { 0 };
        let last = next_len == 0;

        digest.update(&current[current_len - TAG_LEN..current_len]);
        let plaintext = key
            .open_in_place(
                chunk_nonce(&prefix, index, last),
                Aad::from(&aad),
                &mut current[..current_len],
            )
            .map_err(|_| CryptoError::Locked)?;
        total += plaintext.len() as u64;
        output.write_all(plaintext)?;

        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
        index = index.checked_add(1).ok_or(CryptoError::Locked)?;
    }

    output.flush()?;
    Ok(StreamSummary { plaintext_bytes: total, digest: hex(digest.finish().as_ref()) })
}

/// Returns the length of the stream [`encrypt_stream`] writes for `plaintext_bytes` bytes:
/// the header, the plaintext, and one tag per chunk (one chunk for an empty input).
pub fn sealed_len(plaintext_bytes: u64) -> u64 {
    let chunks = plaintext_bytes.div_ceil(CHUNK_BYTES as u64).max(1);
    HEADER_LEN as u64 + plaintext_bytes + chunks * TAG_LEN as u64
}

/// Computes the digest of a stream written by [`encrypt_stream`] without its key, by
/// reading the header and each chunk's tag. A server uses it to check an upload.
///
/// It checks only that the stream is well formed, not that its chunks are authentic:
/// only [`decrypt_stream`], with the key, detects a changed ciphertext byte.
///
/// # Errors
///
/// [`CryptoError::Malformed`] or [`CryptoError::Unsupported`] for a header this version
/// cannot read or a stream with no chunk; [`CryptoError::Io`] if reading fails.
pub fn stream_digest(mut input: impl Read) -> Result<String, CryptoError> {
    let mut header = [0u8; HEADER_LEN];
    if read_full(&mut input, &mut header)? != HEADER_LEN {
        return Err(CryptoError::Malformed("stream shorter than its header".into()));
    }
    let chunk_bytes = chunk_size(&header)?;

    let mut digest = Context::new(&SHA256);
    digest.update(&header);
    let mut chunk = vec![0u8; chunk_bytes + TAG_LEN];
    let mut first = true;
    loop {
        let read = read_full(&mut input, &mut chunk)?;
        // A plaintext of whole chunks ends right after a full chunk.
        if read == 0 && !first {
            break;
        }
        first = false;
        if read < TAG_LEN {
            return Err(CryptoError::Malformed("stream ends inside a chunk tag".into()));
        }
        digest.update(&chunk[read - TAG_LEN..read]);
        if read < chunk.len() {
            break;
        }
    }
    Ok(hex(digest.finish().as_ref()))
}

/// Reads the chunk size from a stream header, checking its version and algorithm.
fn chunk_size(header: &[u8; HEADER_LEN]) -> Result<usize, CryptoError> {
    if header[0] != VERSION_1 || header[1] != ALGORITHM_AES_256_GCM {
        return Err(CryptoError::Unsupported(format!(
            "stream version {}, algorithm {}",
            header[0], header[1]
        )));
    }
    let chunk_bytes = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if chunk_bytes == 0 || chunk_bytes > 16 * 1024 * 1024 {
        return Err(CryptoError::Malformed(format!("chunk size {chunk_bytes}")));
    }
    Ok(chunk_bytes)
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let unbound = UnboundKey::new(&AES_256_GCM, key)
        .map_err(|_| CryptoError::Malformed(format!("an attachment key of {} bytes", key.len())))?;
    Ok(LessSafeKey::new(unbound))
}

fn chunk_nonce(prefix: &[u8; PREFIX_LEN], index: u32, last: bool) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[..PREFIX_LEN].copy_from_slice(prefix);
    nonce[PREFIX_LEN..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    Nonce::assume_unique_for_key(nonce)
}

/// Reads until `buffer` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn encrypt(plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = Vec::new();
        encrypt_stream(&KEY, b"attachment-1", plaintext, &mut sealed).unwrap();
        sealed
    }

    fn decrypt(sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut plaintext = Vec::new();
        decrypt_stream(&KEY, b"attachment-1", sealed, &mut plaintext)?;
        Ok(plaintext)
    }

    #[test]
    fn sizes_round_trip() {
        for size in
            [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES, 3_000_000]
        {
            let plaintext: Vec<u8> = (0..size).map(|index| (index % 251) as u8).collect();
            let mut sealed = Vec::new();
            let written =
                encrypt_stream(&KEY, b"attachment-1", &plaintext[..], &mut sealed).unwrap();
            assert_eq!(written.plaintext_bytes, size as u64);

            let mut opened = Vec::new();
            let read = decrypt_stream(&KEY, b"attachment-1", &sealed[..], &mut opened).unwrap();
            assert_eq!(opened, plaintext, "size {size}");
            assert_eq!(read, written, "size {size}");
        }
    }

    #[test]
    fn digest_differs_per_stream() {
        let mut first = Vec::new();
        let mut second = Vec::new();
        let one = encrypt_stream(&KEY, b"a", &b"same bytes"[..], &mut first).unwrap();
        let two = encrypt_stream(&KEY, b"a", &b"same bytes"[..], &mut second).unwrap();
        assert_ne!(one.digest, two.digest, "each stream has its own nonce prefix");
        assert_eq!(one.digest.len(), 64);
    }

    #[test]
    fn truncation_at_chunk_boundary_is_detected() {
        let plaintext = vec![42u8; 3 * CHUNK_BYTES + 10];
        let sealed = encrypt(&plaintext);
        let boundary = HEADER_LEN + 2 * (CHUNK_BYTES + TAG_LEN);
        assert_eq!(decrypt(&sealed[..boundary]).unwrap_err(), CryptoError::Locked);
        assert_eq!(decrypt(&sealed[..sealed.len() - 1]).unwrap_err(), CryptoError::Locked);
        assert_eq!(decrypt(&sealed[..HEADER_LEN]).unwrap_err(), CryptoError::Locked);
    }

    #[test]
    fn swapped_chunks_are_detected() {
        let plaintext: Vec<u8> =
            (0..3 * CHUNK_BYTES).map(|index| (index / CHUNK_BYTES) as u8).collect();
        let sealed = encrypt(&plaintext);
        let chunk = CHUNK_BYTES + TAG_LEN;
        let mut swapped = sealed[..HEADER_LEN].to_vec();
        swapped.extend_from_slice(&sealed[HEADER_LEN + chunk..HEADER_LEN + 2 * chunk]);
        swapped.extend_from_slice(&sealed[HEADER_LEN..HEADER_LEN + chunk]);
        swapped.extend_from_slice(&sealed[HEADER_LEN + 2 * chunk..]);
        assert_eq!(decrypt(&swapped).unwrap_err(), CryptoError::Locked);
    }

    #[test]
    fn flipped_byte_and_wrong_context_are_detected() {
        let sealed = encrypt(b"photo bytes");
        let mut flipped = sealed.clone();
        flipped[HEADER_LEN + 3] ^= 0x80;
        assert_eq!(decrypt(&flipped).unwrap_err(), CryptoError::Locked);
        let mut plaintext = Vec::new();
        let error = decrypt_stream(&KEY, b"attachment-2", &sealed[..], &mut plaintext).unwrap_err();
        assert_eq!(error, CryptoError::Locked);
    }

    #[test]
    fn sealed_len_and_digest_match_stream() {
        for size in [0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 7] {
            let plaintext = vec![3u8; size];
            let mut sealed = Vec::new();
            let summary = encrypt_stream(&KEY, b"a", &plaintext[..], &mut sealed).unwrap();
            assert_eq!(sealed.len() as u64, sealed_len(size as u64), "size {size}");
            assert_eq!(stream_digest(&sealed[..]).unwrap(), summary.digest, "size {size}");
        }
    }

    #[test]
    fn digest_of_truncated_stream_differs() {
        let sealed = encrypt(&vec![1u8; 2 * CHUNK_BYTES + 5]);
        let whole = stream_digest(&sealed[..]).unwrap();
        let cut = stream_digest(&sealed[..sealed.len() - 1]).unwrap();
        assert_ne!(cut, whole);
        assert!(matches!(stream_digest(&sealed[..5]), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn sealer_in_place_matches_stream_format() {
        let plaintext: Vec<u8> = (0..2 * CHUNK_BYTES + 9).map(|index| index as u8).collect();
        let mut sealer = StreamSealer::new(&KEY, b"attachment-1").unwrap();
        let mut sealed = sealer.header().to_vec();
        let mut buffer = plaintext.clone();
        let chunks: Vec<&mut [u8]> = buffer.chunks_mut(CHUNK_BYTES).collect();
        let count = chunks.len();
        for (index, chunk) in chunks.into_iter().enumerate() {
            let tag = sealer.seal_chunk(chunk, index + 1 == count).unwrap();
            sealed.extend_from_slice(chunk);
            sealed.extend_from_slice(&tag);
        }
        let summary = sealer.finish().unwrap();

        assert_eq!(decrypt(&sealed).unwrap(), plaintext);
        assert_eq!(stream_digest(&sealed[..]).unwrap(), summary.digest);
        assert_eq!(summary.plaintext_bytes, plaintext.len() as u64);
    }

    #[test]
    fn sealer_rejects_misuse() {
        let mut sealer = StreamSealer::new(&KEY, b"a").unwrap();
        let short = sealer.seal_chunk(&mut [0u8; 10], false).unwrap_err();
        assert!(matches!(short, CryptoError::Malformed(_)));
        sealer.seal_chunk(&mut [0u8; 10], true).unwrap();
        assert!(matches!(sealer.seal_chunk(&mut [0u8; 1], true), Err(CryptoError::Malformed(_))));

        let unfinished = StreamSealer::new(&KEY, b"a").unwrap();
        assert!(matches!(unfinished.finish(), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn large_stream_is_not_held_in_memory() {
        // 256 MiB through a reader and a writer that keep nothing: only the two chunk
        // buffers are ever allocated, or this test would need the whole file in memory.
        struct Counter(u64);
        impl Write for Counter {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0 += bytes.len() as u64;
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let size = 256 * 1024 * 1024u64;
        let mut sealed = Counter(0);
        let input = std::io::repeat(0x5a).take(size);
        let summary = encrypt_stream(&KEY, b"video", input, &mut sealed).unwrap();
        assert_eq!(summary.plaintext_bytes, size);
        let chunks = size.div_ceil(CHUNK_BYTES as u64);
        assert_eq!(sealed.0, HEADER_LEN as u64 + size + chunks * TAG_LEN as u64);
    }
}
