//! `drkit.native._seal`: what a backup does to each small blob -- its keyed BLAKE3 content id, zstd
//! when it shrinks, AES-256-GCM -- for a whole batch in one call that gives the GIL up.
//!
//! The Python path (`drkit.repo.format.blobs.seal_blobs`, `MasterKey.content_id`) makes three calls
//! per blob into `blake3`, `zstandard` and `cryptography`; for blobs of a few KiB the hash and the
//! AEAD hold the GIL, and each call that releases it must win it back from the walking thread. Here a
//! batch of a sealing thread (up to 1 MiB, 256 blobs) costs two acquisitions of the GIL.
//!
//! The bytes written are the layout of `drkit.repo.format.crypto` and `blobs` (docs/format.md):
//!
//!     alg 0x01 | nonce (12) | AES-256-GCM(flag || body) | tag (16),  AAD = 0x01 || aad_prefix || id
//!
//! with `flag` 0x00 and the raw bytes, or 0x01 and a zstd frame (content size in its header) when
//! zstd at `level` makes it smaller. Nonces are 12 bytes from the operating system's CSPRNG, as
//! `os.urandom` draws them. Nothing here invents a primitive; the crates are `ring` (AES-256-GCM,
//! BoringSSL's assembly), the BLAKE3 team's `blake3`, and `zstd` (libzstd). A sealed batch is built
//! in a buffer each thread keeps (no fresh pages per blob), then copied into the returned `bytes`.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::cell::RefCell;

const ALG_AES_256_GCM: u8 = 0x01;
const NONCE_SIZE: usize = 12;
const TAG_SIZE: usize = 16;
const KEY_SIZE: usize = 32;
const FLAG_RAW: u8 = 0x00;
const FLAG_ZSTD: u8 = 0x01;

thread_local! {
    /// One zstd context per thread and level (a context is not shared between threads).
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    /// Each thread's sealed batch (the blobs end to end, and where each ends), kept for the next
    /// batch: no fresh pages for every blob. Encrypted data only; it is overwritten by the next batch.
    static ARENA: RefCell<(Vec<u8>, Vec<usize>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// zstd of `raw` at `level` into `frame` (kept from blob to blob), when it is smaller than `raw`
/// (else, or when the context could not be made, false).
fn compress_smaller(level: i32, raw: &[u8], frame: &mut Vec<u8>) -> bool {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _)| *l) != Some(level) {
            match zstd::bulk::Compressor::new(level) {
                Ok(c) => *slot = Some((level, c)),
                Err(_) => return false,
            }
        }
        let Some((_, compressor)) = slot.as_mut() else { return false };
        frame.clear();
        frame.reserve(zstd::zstd_safe::compress_bound(raw.len()));
        matches!(compressor.compress_to_buffer(raw, frame), Ok(n) if n < raw.len())
    })
}

fn key32(key: &[u8], what: &str) -> PyResult<[u8; KEY_SIZE]> {
    // the length only, never the key
    key.try_into()
        .map_err(|_| PyValueError::new_err(format!("{what} is {KEY_SIZE} bytes, not {}", key.len())))
}

/// The keyed BLAKE3 of each of `datas` (32 bytes each), in order.
#[pyfunction]
fn content_ids<'py>(
    py: Python<'py>,
    key: &[u8],
    datas: Vec<Bound<'py, PyBytes>>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let key = key32(key, "an id key")?;
    let views: Vec<&[u8]> = datas.iter().map(|b| b.as_bytes()).collect();
    let ids: Vec<[u8; 32]> =
        py.allow_threads(|| views.iter().map(|d| *blake3::keyed_hash(&key, d).as_bytes()).collect());
    Ok(ids.iter().map(|id| PyBytes::new(py, id)).collect())
}

/// Each of `datas` sealed under `key` with the associated data `aad_prefix || ids[i]`: compressed
/// first at zstd `level` when it has `min_compress` bytes or more and the frame is smaller (`level`
/// 0: never). The blobs in order, as `blobs.seal_blob` makes them.
#[pyfunction]
fn seal_blobs<'py>(
    py: Python<'py>,
    key: &[u8],
    level: i32,
    min_compress: usize,
    aad_prefix: &[u8],
    ids: Vec<Bound<'py, PyBytes>>,
    datas: Vec<Bound<'py, PyBytes>>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let key = key32(key, "an AEAD key")?;
    if ids.len() != datas.len() {
        return Err(PyValueError::new_err(format!(
            "{} ids for {} blobs",
            ids.len(),
            datas.len()
        )));
    }
    let ids: Vec<&[u8]> = ids.iter().map(|b| b.as_bytes()).collect();
    let raws: Vec<&[u8]> = datas.iter().map(|b| b.as_bytes()).collect();
    let sealed: Result<(), String> = py.allow_threads(|| {
        ARENA.with(|cell| {
            let mut arena = cell.borrow_mut();
            let (out, ends) = &mut *arena;
            out.clear();
            ends.clear();
            seal_into(&key, level, min_compress, aad_prefix, &ids, &raws, out, ends)
        })
    });
    sealed.map_err(PyOSError::new_err)?;
    ARENA.with(|cell| {
        let arena = cell.borrow();
        let (out, ends) = &*arena;
        let mut start = 0;
        Ok(ends
            .iter()
            .map(|&end| {
                let blob = PyBytes::new(py, &out[start..end]);
                start = end;
                blob
            })
            .collect())
    })
}

/// The sealed blobs of `raws`, one after the other in `out`; `ends` gets where each ends.
#[allow(clippy::too_many_arguments)]
fn seal_into(
    key: &[u8; KEY_SIZE],
    level: i32,
    min_compress: usize,
    aad_prefix: &[u8],
    ids: &[&[u8]],
    raws: &[&[u8]],
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<(), String> {
    let cipher = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| "an AES-256-GCM key refused".to_string())?,
    );
    let mut nonces = vec![0u8; NONCE_SIZE * raws.len()];
    getrandom::getrandom(&mut nonces).map_err(|e| format!("no random nonces: {e}"))?;
    let mut aad = Vec::with_capacity(1 + aad_prefix.len() + 32);
    let mut frame = Vec::new();
    out.reserve(raws.iter().map(|r| r.len() + 1 + NONCE_SIZE + 1 + TAG_SIZE).sum());
    for (i, raw) in raws.iter().enumerate() {
        let (flag, body): (u8, &[u8]) =
            if level > 0 && raw.len() >= min_compress && compress_smaller(level, raw, &mut frame) {
                (FLAG_ZSTD, &frame)
            } else {
                (FLAG_RAW, raw)
            };
        let nonce = &nonces[i * NONCE_SIZE..(i + 1) * NONCE_SIZE];
        out.push(ALG_AES_256_GCM);
        out.extend_from_slice(nonce);
        let start = out.len();
        out.push(flag);
        out.extend_from_slice(body);
        aad.clear();
        aad.push(ALG_AES_256_GCM);
        aad.extend_from_slice(aad_prefix);
        aad.extend_from_slice(ids[i]);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "a nonce is 12 bytes".to_string())?;
        let tag = cipher
            .seal_in_place_separate_tag(nonce, Aad::from(&aad[..]), &mut out[start..])
            .map_err(|_| "AES-GCM refused a blob (too large)".to_string())?;
        out.extend_from_slice(tag.as_ref());
        ends.push(out.len());
    }
    Ok(())
}

#[pymodule]
fn _seal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(content_ids, m)?)?;
    m.add_function(wrap_pyfunction!(seal_blobs, m)?)?;
    Ok(())
}
