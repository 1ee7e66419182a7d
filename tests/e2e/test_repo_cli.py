"""The repository commands end to end, as a user runs them: `python -m drkit ...` on a local repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drkit.errors import ExitCode
from tests.treecompare import assert_same_tree, make_sample_tree


class Drkit:
    def __init__(self, tmp: Path) -> None:
        self.repo = tmp / "repo"
        self.password = tmp / "password"
        self.password.write_text("correct horse battery staple\n")
        self.env = {
            **os.environ,
            "DRKIT_REPO": str(self.repo),
            "DRKIT_PASSWORD_FILE": str(self.password),
            "DRKIT_SCRYPT_N": "1024",  # cheap key derivation; honoured only under pytest
        }

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drkit", *args],
            capture_output=True,
            text=True,
            env=env or self.env,
            check=False,
            timeout=300,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"drkit {' '.join(args)} -> {result.returncode}\n{result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def files(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.repo)): p.read_bytes() for p in self.repo.rglob("*") if p.is_file()}


@pytest.fixture
def drkit(tmp_path: Path) -> Drkit:
    d = Drkit(tmp_path)
    created = d.json("repo", "init", "--retention", "1d")
    assert created["lock_mode"] == "compliance"
    assert len(created["id"]) == 32
    return d


def test_backup_restore_round_trip_is_byte_identical_and_deduplicated(drkit: Drkit, tmp_path: Path) -> None:
    src = make_sample_tree(tmp_path / "src")
    first = drkit.json("backup", "path", str(src), "--tag", "nightly")
    assert first["files"] > 0
    assert first["new_bytes"] > 0
    second = drkit.json("backup", "path", str(src))
    assert second["new_bytes"] == 0, "an unchanged tree must store nothing new"
    assert second["parent"] == first["id"]

    listed = drkit.json("snapshots")
    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    assert listed[0]["tags"] == ["nightly"]

    out = tmp_path / "restored"
    restored = drkit.json("restore", "path", first["short_id"], str(out))
    assert restored["snapshot"] == first["id"]
    assert_same_tree(src, out)

    part = tmp_path / "part"
    drkit.ok("restore", "path", "latest:dir/sub", str(part))
    assert_same_tree(src / "dir" / "sub", part)

    report = drkit.json("verify", "--read-data")
    assert report["ok"] is True
    assert report["snapshots_checked"] == 2
    assert report["packs_read"] == report["packs_checked"] > 0


def test_wrong_passphrase_exits_12_and_writes_nothing(drkit: Drkit, tmp_path: Path) -> None:
    before = drkit.files()
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    result = drkit.run("backup", "path", str(tmp_path), env={**drkit.env, "DRKIT_PASSWORD_FILE": str(wrong)})
    assert result.returncode == ExitCode.WRONG_KEY
    assert "opens no key slot" in result.stderr
    assert "not it" not in result.stderr + result.stdout
    assert drkit.files() == before


def test_missing_repository_exits_10(drkit: Drkit, tmp_path: Path) -> None:
    result = drkit.run("snapshots", "--repo", str(tmp_path / "nowhere"))
    assert result.returncode == ExitCode.REPOSITORY_NOT_FOUND
    assert "no drkit repository" in result.stderr
    assert "drkit repo init" in result.stderr


def test_init_twice_is_refused(drkit: Drkit) -> None:
    before = drkit.files()
    result = drkit.run("repo", "init")
    assert result.returncode == ExitCode.USAGE
    assert "already exists" in result.stderr
    assert drkit.files() == before


def test_corrupt_pack_is_named_with_its_snapshot_and_exits_13(drkit: Drkit, tmp_path: Path) -> None:
    src = make_sample_tree(tmp_path / "src")
    snap = drkit.json("backup", "path", str(src))
    packs = sorted((drkit.repo / "data").rglob("*"))
    pack = max((p for p in packs if p.is_file()), key=lambda p: p.stat().st_size)
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))

    result = drkit.run("verify", "--read-data")
    assert result.returncode == ExitCode.VERIFICATION_FAILED
    assert pack.name in result.stdout + result.stderr
    assert snap["short_id"] in result.stdout + result.stderr


def test_key_rotation_add_key_file_then_remove_passphrase_slot(drkit: Drkit, tmp_path: Path) -> None:
    [old] = drkit.json("repo", "key", "list")
    assert old["current"] is True
    keyfile = tmp_path / "drkit.key"
    added = drkit.json("repo", "key", "add", "--label", "ci", "--generate-key-file", str(keyfile))
    assert keyfile.stat().st_mode & 0o777 == 0o600
    assert added["kind"] == "keyfile"

    by_keyfile = {k: v for k, v in drkit.env.items() if k != "DRKIT_PASSWORD_FILE"}
    by_keyfile["DRKIT_KEY_FILE"] = str(keyfile)
    removed = drkit.run("repo", "key", "remove", old["id"][:8], "-o", "json", env=by_keyfile)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(removed.stdout)["removed"] == old["id"]

    assert drkit.run("snapshots").returncode == ExitCode.WRONG_KEY
    assert drkit.run("snapshots", env=by_keyfile).returncode == 0
    last = drkit.run("repo", "key", "remove", added["id"], "--force", env=by_keyfile)
    assert last.returncode == ExitCode.USAGE
    assert "last master key slot" in last.stderr


def test_prune_dry_run_changes_nothing_and_reports_reasons(drkit: Drkit, tmp_path: Path) -> None:
    src = make_sample_tree(tmp_path / "src")
    first = drkit.json("backup", "path", str(src))
    (src / "new.txt").write_text("changed\n")
    second = drkit.json("backup", "path", str(src))
    before = drkit.files()

    plan = drkit.json("prune", "--keep-last", "1", "--dry-run")
    assert plan["dry_run"] is True
    decisions = {s["id"]: s for s in plan["snapshots"]}
    assert decisions[second["id"]]["keep"] is True
    assert decisions[second["id"]]["reasons"] == ["last 1/1"]
    assert decisions[first["id"]]["keep"] is False
    assert drkit.files() == before


def test_restore_into_a_non_empty_directory_is_refused(drkit: Drkit, tmp_path: Path) -> None:
    src = make_sample_tree(tmp_path / "src")
    drkit.ok("backup", "path", str(src))
    target = tmp_path / "busy"
    target.mkdir()
    (target / "precious").write_text("keep me")
    result = drkit.run("restore", "path", "latest", str(target))
    assert result.returncode == ExitCode.USAGE
    assert "not empty" in result.stderr
    assert (target / "precious").read_text() == "keep me"


def test_prune_applies_the_policy_to_each_series_on_its_own(drkit: Drkit, tmp_path: Path) -> None:
    busy = make_sample_tree(tmp_path / "busy")
    quiet = make_sample_tree(tmp_path / "quiet", seed=8)
    lone = drkit.json("backup", "path", str(quiet))
    older = drkit.json("backup", "path", str(busy))
    newest = drkit.json("backup", "path", str(busy))

    plan = drkit.json("prune", "--keep-last", "1", "--dry-run")
    decisions = {s["id"]: s for s in plan["snapshots"]}
    assert decisions[lone["id"]]["keep"] is True, "another directory's backups must not push this one out"
    assert decisions[newest["id"]]["keep"] is True
    assert decisions[older["id"]]["keep"] is False


def test_a_writer_slot_backs_up_write_only_and_reads_nothing(drkit: Drkit, tmp_path: Path) -> None:
    src = make_sample_tree(tmp_path / "src")
    drkit.ok("backup", "path", str(src))  # a backup the writer must never be able to read
    writer_key = tmp_path / "writer.key"
    added = drkit.json(
        "repo", "key", "add", "--writer", "--label", "cluster", "--generate-key-file", str(writer_key)
    )
    assert added["role"] == "writer"

    as_writer = {k: v for k, v in drkit.env.items() if k != "DRKIT_PASSWORD_FILE"}
    as_writer["DRKIT_KEY_FILE"] = str(writer_key)
    (src / "new.txt").write_text("written by the writer\n")
    done = drkit.run("backup", "path", str(src), "--write-only", "-o", "json", env=as_writer)
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)

    for reading in (("snapshots",), ("restore", "path", "latest", str(tmp_path / "out")), ("verify",)):
        refused = drkit.run(*reading, env=as_writer)
        assert refused.returncode != 0, reading
        assert not (tmp_path / "out").exists()
    assert drkit.run("backup", "path", str(src), env=as_writer).returncode == ExitCode.WRONG_KEY

    out = tmp_path / "restored"
    drkit.ok("restore", "path", written["id"], str(out))  # the master key opens what the writer sealed
    assert_same_tree(src, out)
    assert drkit.json("verify", "--read-data")["ok"] is True
