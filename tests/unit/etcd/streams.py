"""Snapshot streams for the parser tests: one recorded from etcd 3.6.16, and ones built to order."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "snapshot-etcd-3.6.16.jsonl.gz"
"""``POST /v3/maintenance/snapshot`` of a 112 KiB database (60 keys), as the gateway sent it."""


def recorded() -> bytes:
    return gzip.decompress(RECORDED.read_bytes())


def messages(stream: bytes) -> list[dict[str, dict[str, str]]]:
    return [json.loads(line) for line in stream.splitlines() if line.strip()]


def blobs(stream: bytes) -> list[bytes]:
    return [base64.b64decode(m["result"]["blob"]) for m in messages(stream)]


def encode(msgs: list[dict[str, dict[str, str]]]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\n" for m in msgs)


def build(db: bytes, *, piece: int = 32 * 1024, checksum: bytes | None = None) -> bytes:
    """A stream as etcd's maintenance.go sends it: pieces with remaining_bytes (omitted when 0), then
    the SHA-256 (or ``checksum``)."""
    msgs = []
    sent = 0
    while True:
        blob = db[sent : sent + piece]
        sent += len(blob)
        result = {"blob": base64.b64encode(blob).decode(), "version": "3.6.0"}
        if len(db) - sent:
            result["remaining_bytes"] = str(len(db) - sent)
        msgs.append({"result": result})
        if sent >= len(db):
            break
    sha = hashlib.sha256(db).digest() if checksum is None else checksum
    msgs.append({"result": {"blob": base64.b64encode(sha).decode(), "version": "3.6.0"}})
    return encode(msgs)
