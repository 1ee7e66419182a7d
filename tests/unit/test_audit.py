"""drkit.repo.format.audit on the fake store: records are sealed, signed, locked, listed in order, and a
tampered, moved or foreign record is reported, never listed."""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

import pytest
import zstandard

from drkit.errors import ConfigError, VerificationFailed
from drkit.repo.format import audit
from drkit.repo.format.audit import Actor, AuditRecord
from drkit.repo.format.keyring import KeyRing
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.masterkey import MasterKey
from drkit.repo.format.sealing import SESSIONS_PREFIX, WriteKeys
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.base import LockMode
from tests.unit.repo.repohelpers import SCRYPT_N, SafeStore, corrupt, new_repo, open_repo

T0 = datetime(2036, 11, 26, 6, 0, tzinfo=UTC)
WHO = Actor("alice", "laptop", "system:serviceaccount:drkit:drkit-backup")
WRITER = Credential(passphrase=Secret("writer passphrase of the audit test"))


def record(action: str = "backup", result: str = "ok", minutes: int = 0, **detail: object) -> AuditRecord:
    return AuditRecord.now(
        action, f"{action} run", result, detail=detail, actor=WHO, time=T0 + timedelta(minutes=minutes)
    )


def test_append_then_list_round_trips_in_time_order() -> None:
    store = SafeStore()
    repo = new_repo(store)
    second = audit.append(repo, record("prune", minutes=5, deleted=3))
    first = audit.append(repo, record("backup", snapshot="ab" * 32))
    assert first.key.startswith("audit/20361126T060000.000000Z-")
    assert second.key > first.key

    log = audit.list_records(open_repo(store))
    assert log.problems == []
    assert [(r.action, r.result, r.key) for r in log.records] == [
        ("backup", "ok", first.key),
        ("prune", "ok", second.key),
    ]
    got = log.records[0]
    assert got.actor == WHO
    assert got.time == T0
    assert got.detail == {"snapshot": "ab" * 32}
    assert got.to_json()["identity"] == "system:serviceaccount:drkit:drkit-backup"


def test_records_are_locked_with_the_repository_retention() -> None:
    store = SafeStore()
    repo = new_repo(store, lock_mode=LockMode.COMPLIANCE, retention=timedelta(days=7))
    stored = audit.append(repo, record())
    version = store.inner._objects[stored.key][0]
    assert version.retention is not None
    assert version.retention.mode == LockMode.COMPLIANCE
    assert version.retention.until >= T0 + timedelta(days=7)


def test_records_are_sealed_not_readable_in_the_store() -> None:
    store = SafeStore()
    repo = new_repo(store)
    stored = audit.append(repo, record(note="a-recognisable-note"))
    raw = store.get(stored.key)
    assert b"a-recognisable-note" not in raw
    assert b"alice" not in raw


def test_a_corrupted_record_is_a_problem_not_a_record() -> None:
    store = SafeStore()
    repo = new_repo(store)
    good = audit.append(repo, record(minutes=1))
    bad = audit.append(repo, record(minutes=2))
    corrupt(store, bad.key, at=40)
    log = audit.list_records(open_repo(store))
    assert [r.key for r in log.records] == [good.key]
    assert [p.key for p in log.problems] == [bad.key]
    assert "does not open" in log.problems[0].message


def test_a_record_copied_under_another_name_is_refused() -> None:
    """The key is bound into the seal: replaying an old 'ok' under a newer time does not verify."""
    store = SafeStore()
    repo = new_repo(store)
    old = audit.append(repo, record(result="ok"))
    planted = "audit/20361201T000000.000000Z-0000000000000000"
    store.put(planted, store.get(old.key))
    log = audit.list_records(open_repo(store))
    assert [r.key for r in log.records] == [old.key]
    assert [p.key for p in log.problems] == [planted]


def test_a_record_signed_by_another_repository_is_refused() -> None:
    store, other = SafeStore(), SafeStore()
    repo, foreign = new_repo(store), new_repo(other)
    stored = audit.append(foreign, record())
    store.put(stored.key, other.get(stored.key))
    log = audit.list_records(repo)
    assert log.records == []
    assert [p.key for p in log.problems] == [stored.key]


class _SignedByAnother:
    """The repository's own sealing keys, with every signature made by another key."""

    def __init__(self, keys: WriteKeys) -> None:
        self._keys = keys
        self._other = MasterKey.generate()
        self.sealer_id = keys.sealer_id

    def __getattr__(self, name: str) -> object:
        return getattr(self._keys, name)

    def sign(self, message: bytes) -> bytes:
        return self._other.sign(message)


def test_a_record_sealed_with_the_right_keys_but_signed_by_another_is_refused() -> None:
    """Only the signature is wrong: it opens (right seal, right key in AAD and body) and must still
    be refused, as a snapshot manifest would be."""
    store = SafeStore()
    repo = new_repo(store)
    good = audit.append(repo, record(minutes=1))
    forged = replace(record(result="ok", minutes=2), key="audit/20361126T060200.000000Z-00000000000000ff")
    keys = cast(WriteKeys, _SignedByAnother(repo.write_keys()))
    data = audit.encode_record(keys, forged)
    store.put(forged.key, data)

    reader = open_repo(store)
    with pytest.raises(VerificationFailed, match="invalid signature"):
        audit.decode_record(reader.read_keys(), reader.config.verify_key, forged.key, data)
    honest = audit.encode_record(repo.write_keys(), forged)
    assert audit.decode_record(reader.read_keys(), reader.config.verify_key, forged.key, honest).key == (
        forged.key
    )
    log = audit.list_records(reader)
    assert [r.key for r in log.records] == [good.key]
    assert [p.key for p in log.problems] == [forged.key]
    assert "invalid signature" in log.problems[0].message


def test_a_newer_version_over_a_record_falls_back_to_the_locked_original() -> None:
    store = SafeStore()
    repo = new_repo(store)
    stored = audit.append(repo, record(result="failed", error="disk full"))
    store.inner.overwrite(stored.key, b"\x00" * 64)  # an attacker's new version over the same key
    log = audit.list_records(open_repo(store))
    assert [(r.key, r.result) for r in log.records] == [(stored.key, "failed")]
    assert [p.key for p in log.problems] == [stored.key]  # the tampering is reported


def test_write_only_repository_appends_and_only_the_master_reads() -> None:
    store = SafeStore()
    repo = new_repo(store)
    KeyRing(store, scrypt_n=SCRYPT_N).add_writer(repo.key.writer_key(), WRITER, "cluster writer")
    writer = Repository.open_writer(store, WRITER)
    stored = audit.append(writer, record())  # nothing else written yet in this session
    assert len(store.keys(SESSIONS_PREFIX)) == 1
    with pytest.raises(ConfigError):
        audit.list_records(writer)
    log = audit.list_records(open_repo(store))
    assert [r.key for r in log.records] == [stored.key]
    assert log.problems == []


def test_unknown_action_or_result_is_refused() -> None:
    repo = new_repo(SafeStore())
    with pytest.raises(ValueError, match="action"):
        audit.append(repo, record(action="exfiltrate"))
    with pytest.raises(ValueError, match="result"):
        audit.append(repo, record(result="maybe"))
    naive = AuditRecord.now("backup", "b", "ok", actor=WHO, time=datetime(2026, 1, 1), detail={})
    with pytest.raises(ValueError, match=r"^audit record time must be aware$"):
        audit.append(repo, naive)


def test_service_account_identity_from_token(tmp_path: Path) -> None:
    payload = base64.urlsafe_b64encode(
        json.dumps({"sub": "system:serviceaccount:drkit:drkit-backup"}).encode()
    )
    token = tmp_path / "token"
    token.write_text(f"eyJhbGciOiJSUzI1NiJ9.{payload.decode().rstrip('=')}.c2ln")
    assert audit.service_account_identity(token) == "system:serviceaccount:drkit:drkit-backup"
    assert audit.service_account_identity(tmp_path / "absent") is None
    token.write_text("not a token")
    assert audit.service_account_identity(token) is None


# --- the record format, message by message (gaps found by mutation testing, docs/testing.md) -------


def _seal_plain(repo: Repository, key: str, plain: bytes) -> bytes:
    """A record built by hand as the module docstring lays it out, sealed with the repository's key."""
    keys = repo.write_keys()
    aad = b"drkit-audit:" + key.encode()
    return keys.sealer_id + keys.seal(zstandard.ZstdCompressor().compress(plain), aad)


def _signed(repo: Repository, body: bytes, *, sig: bytes | None = None) -> bytes:
    return struct.pack("<I", len(body)) + body + (repo.write_keys().sign(body) if sig is None else sig)


KEY = "audit/20361126T060000.000000Z-00000000000000aa"


def _doc(**changes: object) -> bytes:
    doc: dict[str, object] = {"version": 1, **record().to_json(), "key": KEY}
    doc.update(changes)
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_a_record_built_by_the_documented_layout_opens() -> None:
    repo = new_repo(SafeStore())
    got = audit.decode_record(
        repo.read_keys(), repo.config.verify_key, KEY, _seal_plain(repo, KEY, _signed(repo, _doc()))
    )
    assert (got.key, got.action, got.command, got.actor) == (KEY, "backup", "backup run", WHO)


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        (lambda r: b"\x01\x00", "is truncated"),
        (lambda r: _signed(r, _doc())[:-10], "is truncated"),  # the body whole, the signature short
        (lambda r: _signed(r, b"not json"), "is malformed"),
        (lambda r: _signed(r, _doc(version=9)), "has an unknown version"),
        (
            lambda r: _signed(r, _doc(key="audit/19700101T000000.000000Z-0000000000000000")),
            "was written as audit/1970",
        ),
        (lambda r: _signed(r, json.dumps({"version": 1, "key": KEY}).encode()), "is malformed: 'time'"),
        (lambda r: _signed(r, _doc(time="2036-11-26T06:00:00")), "is malformed: naive time"),
        (lambda r: _signed(r, _doc(), sig=b"\x00" * 64), "has an invalid signature"),
    ],
)
def test_a_bad_record_is_refused_with_a_message_naming_it(plain: object, message: str) -> None:
    repo = new_repo(SafeStore())
    data = _seal_plain(repo, KEY, plain(repo))  # type: ignore[operator]
    with pytest.raises(VerificationFailed, match=f"^audit record {re.escape(KEY)} {message}"):
        audit.decode_record(repo.read_keys(), repo.config.verify_key, KEY, data)


def test_a_record_that_is_not_zstd_does_not_open() -> None:
    repo = new_repo(SafeStore())
    keys = repo.write_keys()
    data = keys.sealer_id + keys.seal(b"not a zstd frame", b"drkit-audit:" + KEY.encode())
    with pytest.raises(VerificationFailed, match=f"^audit record {re.escape(KEY)} does not open: "):
        audit.decode_record(repo.read_keys(), repo.config.verify_key, KEY, data)


def test_the_body_is_canonical_json_and_carries_any_detail_as_text() -> None:
    store = SafeStore()
    repo = new_repo(store)
    stored = audit.append(repo, record(when=datetime(2026, 1, 2, tzinfo=UTC), path=Path("/etc/x")))
    keys = repo.read_keys()
    data = store.get(stored.key)
    plain = zstandard.ZstdDecompressor().decompress(
        keys.open(data[:16], data[16:], b"drkit-audit:" + stored.key.encode())
    )
    (n,) = struct.unpack_from("<I", plain)
    body = plain[4 : 4 + n]
    assert body == json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    got = audit.list_records(open_repo(store)).records[0]
    assert got.detail == {"when": "2026-01-02 00:00:00+00:00", "path": "/etc/x"}


def test_append_names_the_record_by_its_utc_time_and_16_hex_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a local zone that is not UTC
    time.tzset()
    try:
        store = SafeStore()
        repo = new_repo(store)
        at = datetime(2036, 11, 26, 8, 30, tzinfo=timezone(timedelta(hours=2)))
        stored = audit.append(
            repo, AuditRecord.now("restore", "restore run", "partial", actor=WHO, time=at, detail={})
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert re.fullmatch(r"audit/20361126T063000\.000000Z-[0-9a-f]{16}", stored.key), stored.key
    assert stored.time.utcoffset() == timedelta(0)
    assert stored.to_json()["time"] == "2036-11-26T06:30:00+00:00"
    got = audit.list_records(open_repo(store)).records[0]
    assert (got.command, got.result, got.time) == ("restore run", "partial", at)
    assert got.time.utcoffset() == timedelta(0)


def test_an_actor_without_identity_round_trips_as_none() -> None:
    store = SafeStore()
    repo = new_repo(store)
    nobody = Actor("bob", "ci-runner")
    audit.append(repo, AuditRecord.now("verify", "verify", "ok", actor=nobody, time=T0, detail={}))
    got = audit.list_records(open_repo(store)).records[0]
    assert got.actor == nobody
    assert got.actor.identity is None


def test_the_tampering_problem_says_what_was_found() -> None:
    store = SafeStore()
    repo = new_repo(store)
    stored = audit.append(repo, record())
    store.inner.overwrite(stored.key, b"\x00" * 64)
    log = audit.list_records(open_repo(store))
    assert "fails its check" in log.problems[0].message
    assert "intact version" in log.problems[0].message


def test_actor_current_names_user_host_and_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(audit, "_user", lambda: "carol")
    monkeypatch.setattr(audit.socket, "gethostname", lambda: "node-7")
    assert audit.Actor.current("system:serviceaccount:x:y") == Actor(
        "carol", "node-7", "system:serviceaccount:x:y"
    )
    monkeypatch.setattr(audit, "service_account_identity", lambda: "system:serviceaccount:drkit:drkit")
    assert audit.Actor.current() == Actor("carol", "node-7", "system:serviceaccount:drkit:drkit")
    assert audit.Actor.current("given") == Actor("carol", "node-7", "given")


def _token(tmp_path: Path, payload: object) -> Path:
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    token = tmp_path / "token"
    token.write_text(f"eyJhbGciOiJSUzI1NiJ9.{raw}.c2ln\n")
    return token


def test_service_account_identity_whatever_the_padding(tmp_path: Path) -> None:
    """JWT parts are unpadded base64url: every length of payload must decode (lengths 0-3 mod 4,
    and so also every length mod 5, which a wrong padding formula would trip on)."""
    for extra in range(20):
        sub = "system:serviceaccount:a:" + "b" * extra
        assert audit.service_account_identity(_token(tmp_path, {"sub": sub})) == sub


def test_service_account_identity_without_a_subject_is_none(tmp_path: Path) -> None:
    assert audit.service_account_identity(_token(tmp_path, {"iss": "k"})) is None
    assert audit.service_account_identity(_token(tmp_path, ["not", "an", "object"])) is None
    assert audit.service_account_identity(_token(tmp_path, {"sub": ""})) is None


def test_error_text_is_the_message_or_the_type_and_bounded() -> None:
    assert audit.error_text(ValueError("disk full")) == "disk full"
    assert audit.error_text(KeyError()) == "KeyError"
    assert audit.error_text(RuntimeError("x" * 5000)) == "x" * audit.MAX_DETAIL_TEXT
