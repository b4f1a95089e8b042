//! Streamed attachment encryption against one raw `ring` AEAD call on the same buffer.

use std::time::Instant;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use vigil_core::crypto::encrypt_stream;

/// Bytes encrypted per round by each side.
const BYTES: usize = 64 * 1024 * 1024;

pub fn run(rounds: usize) {
    let key = [9u8; 32];
    let plaintext: Vec<u8> = (0..BYTES).map(|index| (index % 253) as u8).collect();
    let mut stream_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let mut ratios = Vec::new();

    for _ in 0..rounds {
        let raw = raw_seal_rate(&key, &plaintext);
        let stream = stream_rate(&key, &plaintext);
        raw_rates.push(raw);
        stream_rates.push(stream);
        ratios.push(stream / raw);
    }

    let median = crate::median;
    println!("attachment: {} MiB per round, {rounds} rounds, medians", BYTES >> 20);
    println!(
        "  raw ring AES-256-GCM, one seal of the whole buffer:  {:>8.0} MiB/s",
        median(raw_rates)
    );
    println!(
        "  Vigil encrypt_stream (64 KiB chunks, tag digest):   {:>8.0} MiB/s",
        median(stream_rates)
    );
    println!("  ratio Vigil / raw (median of per-round ratios):      {:>8.2}x", median(ratios));
}

fn raw_seal_rate(key: &[u8], plaintext: &[u8]) -> f64 {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buffer = plaintext.to_vec();
    let started = Instant::now();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key([1; 12]), Aad::empty(), &mut buffer)
        .unwrap();
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
