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
//! `os.urandom` draws them. Nothing here invents a primitive; the crates are RustCrypto's `aes-gcm`,
//! the BLAKE3 team's `blake3`, and `zstd` (libzstd).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
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
}

/// zstd of `raw` at `level`, when the context could be made and the frame written.
fn compress(level: i32, raw: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _)| *l) != Some(level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        slot.as_mut()?.1.compress(raw).ok()
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
    let sealed: Result<Vec<Vec<u8>>, String> = py.allow_threads(|| {
        let cipher = Aes256Gcm::new(&key.into());
        let mut nonces = vec![0u8; NONCE_SIZE * raws.len()];
        getrandom::getrandom(&mut nonces).map_err(|e| format!("no random nonces: {e}"))?;
        let mut aad = Vec::with_capacity(1 + aad_prefix.len() + 32);
        let mut out = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            let packed = if level > 0 && raw.len() >= min_compress {
                compress(level, raw).filter(|p| p.len() < raw.len())
            } else {
                None
            };
            let (flag, body): (u8, &[u8]) = match &packed {
                Some(p) => (FLAG_ZSTD, p),
                None => (FLAG_RAW, raw),
            };
            let nonce = &nonces[i * NONCE_SIZE..(i + 1) * NONCE_SIZE];
            let mut blob = Vec::with_capacity(1 + NONCE_SIZE + 1 + body.len() + TAG_SIZE);
            blob.push(ALG_AES_256_GCM);
            blob.extend_from_slice(nonce);
            blob.push(flag);
            blob.extend_from_slice(body);
            aad.clear();
            aad.push(ALG_AES_256_GCM);
            aad.extend_from_slice(aad_prefix);
            aad.extend_from_slice(ids[i]);
            let tag = cipher
                .encrypt_in_place_detached(Nonce::from_slice(nonce), &aad, &mut blob[1 + NONCE_SIZE..])
                .map_err(|_| "AES-GCM refused a blob (too large)".to_string())?;
            blob.extend_from_slice(&tag);
            out.push(blob);
        }
        Ok(out)
    });
    let sealed = sealed.map_err(PyOSError::new_err)?;
    Ok(sealed.iter().map(|b| PyBytes::new(py, b)).collect())
}

#[pymodule]
fn _seal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(content_ids, m)?)?;
    m.add_function(wrap_pyfunction!(seal_blobs, m)?)?;
    Ok(())
}
