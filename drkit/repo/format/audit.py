"""The audit log: who did what to a repository, when, and how it went; immutable like the rest.

Each record is its own object ``audit/<time>-<random>`` (``<time>`` is UTC ``YYYYmmddTHHMMSS.ffffffZ``
so that names sort in time order, ``<random>`` 16 hex digits), written once, locked with the
repository's retention, and built like a snapshot manifest (docs/format.md)::

    sealer id (16 bytes) || seal(sealer's key, zstd(u32 body_length || body || signature),
                                 aad = "drkit-audit:" || key)

``body`` is canonical JSON that also names its own key, ``signature`` the Ed25519 signature of the
body by the repository's signing key. Binding the key (in the AAD and the body) means a record cannot
be replayed under another name or time. Reading needs the master key (a write-only writer can append
but not read); every record is checked, and one that fails is reported as a problem, never returned.

    append(repo, AuditRecord.now("backup", "backup run", "ok", detail={"snapshot": sid}))
    log = list_records(repo)   # log.records (oldest first), log.problems
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import secrets
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import zstandard

from drkit.errors import VerificationFailed
from drkit.repo.format.masterkey import SIGNATURE_SIZE, verify_signature
from drkit.repo.format.objects import VerifiedReader
from drkit.repo.format.repoconfig import RepoConfig
from drkit.repo.format.retainuntil import retention_at
from drkit.repo.format.sealing import SEALER_ID_SIZE, Openers, WriteKeys
from drkit.storage.base import Store
from drkit.storage.errors import ObjectNotFound

AUDIT_PREFIX: Final = "audit/"
AUDIT_VERSION: Final = 1
ACTIONS: Final = ("backup", "restore", "prune", "forget", "key-change", "drill", "verify")
RESULTS: Final = ("ok", "partial", "failed", "skipped")  # skipped: a daemon run that had nothing to do
SERVICE_ACCOUNT_TOKEN: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
MAX_DETAIL_TEXT: Final = 2000
_LEN: Final = struct.Struct("<I")


class AuditedRepository(Protocol):
    """What the audit log needs of an open repository (``Repository`` provides it)."""

    @property
    def store(self) -> Store: ...

    @property
    def config(self) -> RepoConfig: ...

    def write_keys(self) -> WriteKeys:
        """The keys new objects are sealed with (a write-only session's, stored first)."""
        ...

    def read_keys(self) -> Openers:
        """The keys that open stored objects (``ConfigError`` when opened write-only)."""
        ...


@dataclass(frozen=True)
class Actor:
    """Who: the OS user and host, and the identity the command acted as when known (e.g. a
    Kubernetes ServiceAccount ``system:serviceaccount:drkit:drkit-backup``)."""

    user: str
    host: str
    identity: str | None = None

    @classmethod
    def current(cls, identity: str | None = None) -> Actor:
        return cls(user=_user(), host=socket.gethostname(), identity=identity or service_account_identity())


@dataclass(frozen=True)
class AuditRecord:
    """What happened. ``detail`` holds plain facts (snapshot ids, counts, an error message), never
    credentials or captured contents. ``key`` is set once the record is stored (or read back)."""

    time: datetime
    action: str  # one of ACTIONS
    command: str  # the CLI command, e.g. "backup run"
    result: str  # one of RESULTS
    actor: Actor
    detail: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""

    @classmethod
    def now(
        cls,
        action: str,
        command: str,
        result: str,
        *,
        detail: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
        time: datetime | None = None,
    ) -> AuditRecord:
        return cls(
            time=time or datetime.now(UTC),
            action=action,
            command=command,
            result=result,
            actor=actor or Actor.current(),
            detail=dict(detail or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "time": self.time.isoformat(),
            "action": self.action,
            "command": self.command,
            "result": self.result,
            "user": self.actor.user,
            "host": self.actor.host,
            "identity": self.actor.identity,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class AuditProblem:
    key: str
    message: str


@dataclass(frozen=True)
class AuditLog:
    records: list[AuditRecord]
    problems: list[AuditProblem]


# --- writing --------------------------------------------------------------------------------------


def append(repo: AuditedRepository, record: AuditRecord) -> AuditRecord:
    """Store ``record`` as a new locked object; return it with its ``key``.

    Works with a write-only repository too (the record is sealed with its session key, which is
    stored first if this session has not stored it yet). Storage errors propagate.
    """
    _check(record)
    keys = _write_keys(repo)
    time = record.time.astimezone(UTC)
    key = f"{AUDIT_PREFIX}{time.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(8)}"
    record = replace(record, time=time, key=key)
    data = encode_record(keys, record)
    repo.store.put(key, data, retention=retention_at(repo.config.lock_mode, repo.config.retention, time))
    return record


def encode_record(keys: WriteKeys, record: AuditRecord) -> bytes:
    body = _body(record)
    plain = _LEN.pack(len(body)) + body + keys.sign(body)
    return keys.sealer_id + keys.seal(zstandard.ZstdCompressor(level=3).compress(plain), _aad(record.key))


def _body(record: AuditRecord) -> bytes:
    doc = {"version": AUDIT_VERSION, **record.to_json()}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()


def _aad(key: str) -> bytes:
    return b"drkit-audit:" + key.encode()


def _check(record: AuditRecord) -> None:
    if record.action not in ACTIONS:
        raise ValueError(f"unknown audit action {record.action!r}")
    if record.result not in RESULTS:
        raise ValueError(f"unknown audit result {record.result!r}")
    if record.time.tzinfo is None:
        raise ValueError("audit record time must be aware")


# --- reading --------------------------------------------------------------------------------------


def list_records(repo: AuditedRepository) -> AuditLog:
    """Every audit record, oldest first, each opened and its signature checked.

    A record that does not open, fails its signature, or names another key is a problem (reported),
    not a record. Needs the master key: a write-only repository raises ``ConfigError``.
    """
    openers = _openers(repo)
    reader = VerifiedReader(repo.store)
    records: list[AuditRecord] = []
    problems: list[AuditProblem] = []
    for info in sorted(repo.store.list(AUDIT_PREFIX), key=lambda i: i.key):
        key = info.key

        def valid(data: bytes, key: str = key) -> bool:
            try:
                decode_record(openers, repo.config.verify_key, key, data)
            except VerificationFailed:
                return False
            return True

        try:
            data, _vid = reader.read(key, valid)
            records.append(decode_record(openers, repo.config.verify_key, key, data))
        except VerificationFailed as e:
            problems.append(AuditProblem(key, _why(openers, repo.config.verify_key, key, repo, e)))
        except ObjectNotFound:
            continue  # deleted (expired and pruned) between list and read
    problems += [AuditProblem(e.key, e.message) for e in reader.events]
    return AuditLog(records, problems)


def _why(
    openers: Openers, verify_key: bytes, key: str, repo: AuditedRepository, failure: VerificationFailed
) -> str:
    """The newest version's own reason for failing, more telling than "no version passes"."""
    try:
        decode_record(openers, verify_key, key, repo.store.get(key))
    except VerificationFailed as e:
        return e.message
    except ObjectNotFound:
        pass
    return failure.message


def decode_record(keys: Openers, verify_key: bytes, key: str, data: bytes) -> AuditRecord:
    where = f"audit record {key}"
    try:
        plain = zstandard.ZstdDecompressor().decompress(
            keys.open(data[:SEALER_ID_SIZE], memoryview(data)[SEALER_ID_SIZE:], _aad(key))
        )
    except VerificationFailed as e:
        raise VerificationFailed(f"{where} does not open: {e.message}") from None
    except (zstandard.ZstdError, ObjectNotFound) as e:
        raise VerificationFailed(f"{where} does not open: {e}") from None
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
        version, written_as = d["version"], d["key"]
    except (KeyError, TypeError, ValueError) as e:
        raise VerificationFailed(f"{where} is malformed: {e}") from None
    if version != AUDIT_VERSION:
        raise VerificationFailed(f"{where} has an unknown version")
    if written_as != key:
        raise VerificationFailed(f"{where} was written as {written_as}")
    try:
        return _record_from_json(key, d)
    except (KeyError, TypeError, ValueError) as e:
        raise VerificationFailed(f"{where} is malformed: {e}") from None


def _record_from_json(key: str, d: dict[str, Any]) -> AuditRecord:
    time = datetime.fromisoformat(d["time"])
    if time.tzinfo is None:
        raise ValueError("naive time")
    identity = d["identity"]
    return AuditRecord(
        time=time,
        action=str(d["action"]),
        command=str(d["command"]),
        result=str(d["result"]),
        actor=Actor(str(d["user"]), str(d["host"]), None if identity is None else str(identity)),
        detail=dict(d["detail"]),
        key=key,
    )


# --- who ------------------------------------------------------------------------------------------


def service_account_identity(token_file: Path = SERVICE_ACCOUNT_TOKEN) -> str | None:
    """The ``sub`` of the pod's ServiceAccount token (e.g. ``system:serviceaccount:drkit:drkit-backup``),
    read without verification (it only names who we are); None outside a pod."""
    try:
        token = token_file.read_text().strip()
    except OSError:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return str(sub) if sub else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (e.g. uid 65532 in a container)
        return f"uid:{os.getuid()}"


def error_text(exc: BaseException) -> str:
    """A failure as an audit detail: the error's own message (drkit messages carry no secrets),
    bounded in length."""
    text = str(exc) or type(exc).__name__
    return text[:MAX_DETAIL_TEXT]


def _write_keys(repo: AuditedRepository) -> WriteKeys:
    return repo.write_keys()


def _openers(repo: AuditedRepository) -> Openers:
    return repo.read_keys()
