"""The ``config`` object: written once at ``init``, signed with the repository's Ed25519 key.

Stored bytes: ``{"body": "<canonical JSON>", "signature": "<hex Ed25519 over body's UTF-8>"}``.
The body names the format, repository id, chunker parameters, lock mode, retention period and the
verify key. It is not secret (nothing in it is), so a reader can tell what the repository is before
it has a key; after opening the master key, the reader checks that the verify key is the master
key's and that the signature holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.format.chunker import ChunkerParams
from drkit.repo.format.masterkey import MasterKey, verify_signature
from drkit.storage.base import LockMode

FORMAT: Final = "drkit-repository"
FORMAT_VERSION: Final = 1
DEFAULT_PACK_SIZE: Final = 16 * 1024 * 1024
DEFAULT_COMPRESSION: Final = "zstd-1"
"""What ``repo init`` sets unless told: zstd's fastest positive level. On the benchmark's source tree
level 3 stored 5% less (313 against 330 MiB) for 40% more compression CPU time, the largest share of
a first backup's CPU (docs/performance.md, "First backup: zstd-1 by default")."""


@dataclass(frozen=True)
class RepoConfig:
    id: str
    created: datetime
    chunker: ChunkerParams
    lock_mode: LockMode | None
    retention: timedelta
    verify_key: bytes
    pack_size: int = DEFAULT_PACK_SIZE
    compression: str = DEFAULT_COMPRESSION
    version: int = FORMAT_VERSION

    def body(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": self.version,
            "id": self.id,
            "created": self.created.isoformat(),
            "chunker": self.chunker.to_json(),
            "compression": self.compression,
            "pack_size": self.pack_size,
            "lock_mode": None if self.lock_mode is None else self.lock_mode.value,
            "retention_seconds": int(self.retention.total_seconds()),
            "verify_key": self.verify_key.hex(),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def compression_level(compression: str) -> int:
    """The zstd level of a ``zstd-N`` setting (1..19), or 0 for ``none``. Readers need no level:
    each blob says whether it is compressed, and frames say the rest."""
    if compression == "none":
        return 0
    match = re.fullmatch(r"zstd-([0-9]{1,2})", compression)
    if match is None or not 1 <= int(match.group(1)) <= 19:
        raise ConfigError(
            f"unknown compression {compression!r}: use zstd-1 .. zstd-19 or none", field="compression"
        )
    return int(match.group(1))


def encode_config(cfg: RepoConfig, key: MasterKey) -> bytes:
    body = cfg.body()
    doc = {"body": body.decode(), "signature": key.sign(body).hex()}
    return json.dumps(doc, sort_keys=True, indent=1).encode()


def parse_config(data: bytes) -> tuple[RepoConfig, bytes, bytes]:
    """Parse without a key. Returns the config, the signed body and the signature."""
    try:
        outer = json.loads(data)
        body = str(outer["body"]).encode()
        signature = bytes.fromhex(outer["signature"])
        doc: dict[str, Any] = json.loads(body)
    except (KeyError, TypeError, ValueError) as e:
        raise VerificationFailed(f"the repository config is malformed: {e}") from None
    if doc.get("format") != FORMAT:
        raise ConfigError("the store holds an object named 'config' that is not a drkit repository config")
    if doc.get("version") != FORMAT_VERSION:
        raise ConfigError(
            f"repository format version {doc.get('version')!r} is not supported "
            f"(this drkit reads {FORMAT_VERSION})"
        )
    try:
        created = datetime.fromisoformat(doc["created"])
        cfg = RepoConfig(
            id=str(doc["id"]),
            created=created,
            chunker=ChunkerParams.from_json(doc["chunker"]),
            lock_mode=None if doc["lock_mode"] is None else LockMode(doc["lock_mode"]),
            retention=timedelta(seconds=int(doc["retention_seconds"])),
            verify_key=bytes.fromhex(doc["verify_key"]),
            pack_size=int(doc["pack_size"]),
            compression=str(doc["compression"]),
            version=int(doc["version"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise VerificationFailed(f"the repository config is malformed: {e}") from None
    compression_level(cfg.compression)
    return cfg, body, signature


class _HasVerifyKey(Protocol):
    def verify_key(self) -> bytes: ...


def check_config(body: bytes, signature: bytes, cfg: RepoConfig, key: _HasVerifyKey) -> None:
    """The config belongs to this master key and is unaltered, or ``VerificationFailed``."""
    if key.verify_key() != cfg.verify_key:
        raise VerificationFailed("the repository config names another key than the one the key slot opened")
    try:
        verify_signature(cfg.verify_key, body, signature)
    except VerificationFailed:
        raise VerificationFailed("the repository config's signature is invalid (tampered?)") from None
