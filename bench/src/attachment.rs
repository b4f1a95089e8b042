//! Attachment encryption against one raw `ring` AEAD call on the same buffer, and an
//! attachment's resumable upload against one raw POST of the same bytes.

use std::time::Instant;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use vigil_core::crypto::{CHUNK_BYTES, StreamSealer, encrypt_stream};

/// Bytes encrypted per round by each side.
const BYTES: usize = 64 * 1024 * 1024;

pub fn run(rounds: usize) {
    let key = [9u8; 32];
    let plaintext: Vec<u8> = (0..BYTES).map(|index| (index % 253) as u8).collect();
    let mut raw_rates = Vec::new();
    let mut sealer_rates = Vec::new();
    let mut stream_rates = Vec::new();
    let mut sealer_ratios = Vec::new();
    let mut stream_ratios = Vec::new();

    for _ in 0..rounds {
        let raw = raw_seal_rate(&key, &plaintext);
        let sealer = sealer_rate(&key, &plaintext);
        let stream = stream_rate(&key, &plaintext);
        raw_rates.push(raw);
        sealer_rates.push(sealer);
        stream_rates.push(stream);
        sealer_ratios.push(sealer / raw);
        stream_ratios.push(stream / raw);
    }

    let median = crate::median;
    println!("attachment: {} MiB per round, {rounds} rounds, medians", BYTES >> 20);
    println!(
        "  raw ring AES-256-GCM, one seal of the whole buffer:    {:>8.0} MiB/s",
        median(raw_rates)
    );
    println!(
        "  Vigil StreamSealer, in place, 64 KiB chunks:           {:>8.0} MiB/s",
        median(sealer_rates)
    );
    println!(
        "  Vigil encrypt_stream, slice reader to Vec writer:      {:>8.0} MiB/s",
        median(stream_rates)
    );
    println!(
        "  ratio StreamSealer / raw (median of per-round ratios):  {:>8.2}x",
        median(sealer_ratios)
    );
    println!(
        "  ratio encrypt_stream / raw (median of per-round ratios):{:>8.2}x",
        median(stream_ratios)
    );
}

fn raw_seal_rate(key: &[u8], plaintext: &[u8]) -> f64 {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buffer = plaintext.to_vec();
    let started = Instant::now();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key([1; 12]), Aad::empty(), &mut buffer)
        .unwrap();
    mib_per_second(started)
}

/// Seals the buffer in place chunk by chunk, as a caller with the plaintext in memory
/// would. The tags go to a separate, pre-sized vector.
fn sealer_rate(key: &[u8], plaintext: &[u8]) -> f64 {
    let mut buffer = plaintext.to_vec();
    let count = buffer.len().div_ceil(CHUNK_BYTES);
    let mut tags = Vec::with_capacity(count * 16);
    let started = Instant::now();
    let mut sealer = StreamSealer::new(key, b"attachment").unwrap();
    for (index, chunk) in buffer.chunks_mut(CHUNK_BYTES).enumerate() {
        let tag = sealer.seal_chunk(chunk, index + 1 == count).unwrap();
        tags.extend_from_slice(&tag);
    }
    sealer.finish().unwrap();
    mib_per_second(started)
}

fn stream_rate(key: &[u8], plaintext: &[u8]) -> f64 {
    // Touch the output's pages before timing, as the baseline's buffer is touched too.
    let mut sealed = vec![1u8; plaintext.len() + plaintext.len() / 1024 + 64];
    sealed.clear();
    let started = Instant::now();
    encrypt_stream(key, b"attachment", plaintext, &mut sealed).unwrap();
    mib_per_second(started)
}

fn mib_per_second(started: Instant) -> f64 {
    (BYTES as f64 / (1024.0 * 1024.0)) / started.elapsed().as_secs_f64()
}
