"""Snapshot manifests: what a snapshot is, signed (Ed25519) and sealed (AEAD).

Stored at ``snapshots/<name>`` (name = BLAKE3 of the stored bytes, which is the snapshot id)::

    sealer id (16 bytes) || seal(sealer's key, zstd(u32 body_length || body || signature),
                                 aad = "drkit-snapshot")

``body`` is canonical JSON (docs/format.md); ``signature`` is the 64-byte Ed25519 signature of the
body by the repository's signing key, checked with the verify key from the config.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime
from typing import Any, Final

import zstandard

from drkit.errors import VerificationFailed
from drkit.repo.format.layout import SNAPSHOTS_PREFIX, is_object_name, name_of_key
from drkit.repo.format.masterkey import SIGNATURE_SIZE, verify_signature
from drkit.repo.format.model import (
    KIND_PATH,
    PackRef,
    Problem,
    ProblemKind,
    RootMeta,
    Snapshot,
    SnapshotStats,
)
from drkit.repo.format.objects import VerifiedReader
from drkit.repo.format.sealing import SEALER_ID_SIZE, Openers, WriteKeys
from drkit.storage.base import Store

MANIFEST_AAD: Final = b"drkit-snapshot"
MANIFEST_VERSION: Final = 1
_LEN: Final = struct.Struct("<I")


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _time(v: object) -> datetime | None:
    if v is None:
        return None
    t = datetime.fromisoformat(str(v))
    if t.tzinfo is None:
        raise ValueError("naive time in manifest")
    return t


def manifest_body(s: Snapshot) -> bytes:
    st = s.stats
    doc: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "time": s.time.isoformat(),
        "host": s.host,
        "tags": list(s.tags),
        "paths": list(s.paths),
        "tree": s.tree.hex(),
        "root": {"mode": s.root.mode, "uid": s.root.uid, "gid": s.root.gid, "mtime_ns": s.root.mtime_ns},
        "parent": s.parent,
        "retain_until": _iso(s.retain_until),
        "stats": {
            "files": st.files,
            "dirs": st.dirs,
            "symlinks": st.symlinks,
            "bytes": st.bytes,
            "new_bytes": st.new_bytes,
            "stored_bytes": st.stored_bytes,
            "new_packs": st.new_packs,
            "reused_files": st.reused_files,
            "duration_s": round(st.duration_s, 3),
            "skipped": list(st.skipped),
        },
        "packs": {
            p: {"version_id": r.version_id, "retain_until": _iso(r.retain_until)} for p, r in s.packs.items()
        },
        "indexes": {i: _iso(t) for i, t in s.indexes.items()},
        "kind": s.kind,
        "meta": s.meta,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def encode_manifest(keys: WriteKeys, s: Snapshot) -> bytes:
    body = manifest_body(s)
    plain = _LEN.pack(len(body)) + body + keys.sign(body)
    return keys.sealer_id + keys.seal(zstandard.ZstdCompressor(level=3).compress(plain), MANIFEST_AAD)


def decode_manifest(keys: Openers, verify_key: bytes, snapshot_id: str, data: bytes) -> Snapshot:
    where = f"snapshot {snapshot_id}"
    try:
        sealer_id = data[:SEALER_ID_SIZE]
        plain = zstandard.ZstdDecompressor().decompress(
            keys.open(sealer_id, memoryview(data)[SEALER_ID_SIZE:], MANIFEST_AAD)
        )
    except VerificationFailed as e:
        raise VerificationFailed(f"{where} does not open: {e.message}") from None
    except zstandard.ZstdError as e:
        raise VerificationFailed(f"{where} does not decompress: {e}") from None
    if len(plain) < _LEN.size:
        raise VerificationFailed(f"{where} is truncated")
    (n,) = _LEN.unpack_from(plain)
    body, sig = plain[_LEN.size : _LEN.size + n], plain[_LEN.size + n :]
    if len(body) != n or len(sig) != SIGNATURE_SIZE:
        raise VerificationFailed(f"{where} is truncated")
    try:
        verify_signature(verify_key, body, sig)
    except VerificationFailed:
        raise VerificationFailed(f"{where} has an invalid signature") from None
    try:
        d = json.loads(body)
    except ValueError as e:
        raise VerificationFailed(f"{where} is malformed: {e}") from None
    if not isinstance(d, dict) or d.get("version") != MANIFEST_VERSION:
        raise VerificationFailed(f"{where} has an unknown version")
    try:
        return _snapshot_from_json(snapshot_id, d)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationFailed(f"{where} is malformed: {e}") from None


def _snapshot_from_json(snapshot_id: str, d: dict[str, Any]) -> Snapshot:
    st = d["stats"]
    time = _time(d["time"])
    if time is None:
        raise ValueError("no time")
    return Snapshot(
        id=snapshot_id,
        time=time,
        host=str(d["host"]),
        tags=tuple(str(t) for t in d["tags"]),
        paths=tuple(str(p) for p in d["paths"]),
        tree=bytes.fromhex(d["tree"]),
        root=RootMeta(*(int(d["root"][k]) for k in ("mode", "uid", "gid", "mtime_ns"))),
        stats=SnapshotStats(
            files=int(st["files"]),
            dirs=int(st["dirs"]),
            symlinks=int(st["symlinks"]),
            bytes=int(st["bytes"]),
            new_bytes=int(st["new_bytes"]),
            stored_bytes=int(st["stored_bytes"]),
            new_packs=int(st["new_packs"]),
            reused_files=int(st.get("reused_files", 0)),
            duration_s=float(st["duration_s"]),
            skipped=tuple(str(x) for x in st["skipped"]),
        ),
        parent=None if d["parent"] is None else str(d["parent"]),
        retain_until=_time(d["retain_until"]),
        packs={
            str(p): PackRef(
                None if r["version_id"] is None else str(r["version_id"]), _time(r["retain_until"])
            )
            for p, r in d["packs"].items()
        },
        indexes={str(i): _time(t) for i, t in d["indexes"].items()},
        kind=str(d.get("kind", KIND_PATH)),
        meta=_meta(d.get("meta", {})),
    )


def _meta(v: object) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise TypeError("meta is not an object")
    return v


def load_manifests(
    store: Store, reader: VerifiedReader, openers: Openers, verify_key: bytes
) -> tuple[list[Snapshot], list[Problem]]:
    """Every snapshot whose manifest opens and verifies, oldest first; a problem for each other one."""
    snaps: list[Snapshot] = []
    problems: list[Problem] = []
    for info in store.list(SNAPSHOTS_PREFIX):
        sid = name_of_key(info.key)
        if not is_object_name(sid):
            problems.append(Problem(ProblemKind.CORRUPT, info.key, "not a drkit object name"))
            continue
        try:
            data, _vid = reader.read_named(info.key, sid)
            snaps.append(decode_manifest(openers, verify_key, sid, data))
        except VerificationFailed as e:
            problems.append(Problem(ProblemKind.CORRUPT, info.key, e.message, (sid,)))
    snaps.sort(key=lambda s: (s.time, s.id))
    return snaps, problems
