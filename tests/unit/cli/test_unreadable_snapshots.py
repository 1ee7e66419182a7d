"""Unreadable snapshots in every listing and restore path (issue 19.3).

A snapshot whose manifest exists but cannot be read -- the manifest corrupt or truncated, or the
write-only session key it is sealed with corrupt -- never disappears silently: listings show it as
unreadable and exit 13 (`-o json` carries it), addressing it (`snapshot show|ls|export`, `restore path`,
`restore plan`, `restore etcd`, `verify --snapshot`) names the corruption with exit 13, prune refuses to
guess what it references, and the readable snapshots still restore.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from drkit.errors import ExitCode
from tests.unit.restore.test_cli_plan import Run, drkit, plan_file

MASTER = "the master passphrase of the unreadable test"
WRITER = "the writer passphrase of the unreadable test"


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


@dataclass
class Broken:
    repo: Path
    good: str  # a readable snapshot (taken with the master key)
    bad: str  # the unreadable one (taken write-only, then damaged)
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str) -> Run:
        return drkit(self.capsys, *args)


DAMAGE: dict[str, Callable[[Path, str], None]] = {
    "manifest flipped": lambda repo, sid: _flip(repo / "snapshots" / sid),
    "manifest truncated": lambda repo, sid: _truncate(repo / "snapshots" / sid),
    "session key corrupt": lambda repo, sid: [_flip(p) for p in (repo / "sessions").iterdir()] and None,
}


@pytest.fixture(params=list(DAMAGE))
def broken(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Broken:
    repo = tmp_path / "repo"
    monkeypatch.setenv("DRKIT_REPO", str(repo))
    monkeypatch.setenv("DRKIT_PASSWORD", MASTER)
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    src = tmp_path / "src"
    src.mkdir()
    (src / "file.txt").write_text("the first backup\n" * 100)
    assert drkit(capsys, "repo", "init", "--retention", "1d").code == 0
    good = drkit(capsys, "backup", "path", str(src), "-o", "json")
    assert good.code == 0, good.err
    writer_pw = tmp_path / "writer-password"
    writer_pw.write_text(WRITER)
    added = drkit(
        capsys, "repo", "key", "add", "--label", "w", "--writer", "--new-password-file", str(writer_pw)
    )
    assert added.code == 0, added.err
    (src / "file.txt").write_text("the second backup, write-only\n" * 100)
    monkeypatch.setenv("DRKIT_PASSWORD", WRITER)
    bad = drkit(capsys, "backup", "path", str(src), "--write-only", "-o", "json")
    assert bad.code == 0, bad.err
    monkeypatch.setenv("DRKIT_PASSWORD", MASTER)
    state = Broken(repo, good.json()["id"], bad.json()["id"], tmp_path, capsys)
    DAMAGE[request.param](repo, state.bad)
    return state


def _names_it(run: Run, sid: str) -> None:
    assert run.code == ExitCode.VERIFICATION_FAILED, (run.code, run.err)
    assert sid in run.err or sid[:8] in run.err
    assert "cannot be read" in run.err


# -- listings -----------------------------------------------------------------------------------------


def test_snapshots_lists_it_as_unreadable_and_exits_13(broken: Broken) -> None:
    run = broken.run("snapshots")
    _names_it(run, broken.bad)
    assert f"UNREADABLE {broken.bad[:8]}" in run.out
    assert broken.good[:8] in run.out


def test_snapshots_json_carries_it(broken: Broken) -> None:
    run = broken.run("snapshots", "-o", "json")
    assert run.code == ExitCode.VERIFICATION_FAILED
    rows = json.loads(run.out)
    assert [r["id"] for r in rows if not r.get("unreadable")] == [broken.good]
    (entry,) = [r for r in rows if r.get("unreadable")]
    assert entry["id"] == broken.bad
    assert entry["object"] == f"snapshots/{broken.bad}"
    assert entry["error"]


def test_filters_do_not_hide_it(broken: Broken) -> None:
    run = broken.run("snapshots", "--host", "no-such-host", "-o", "json")
    assert run.code == ExitCode.VERIFICATION_FAILED
    assert [r["id"] for r in json.loads(run.out)] == [broken.bad]


def test_drill_report_says_records_may_be_missing(broken: Broken) -> None:
    run = broken.run("drill", "report", "-o", "json")
    assert run.code == ExitCode.VERIFICATION_FAILED, run.err
    assert [u["id"] for u in json.loads(run.out)["unreadable"]] == [broken.bad]


def test_repo_info_counts_it(broken: Broken) -> None:
    run = broken.run("repo", "info", "-o", "json")
    assert run.code == 0, run.err
    assert (run.json()["snapshots"], run.json()["unreadable_snapshots"]) == (1, 1)


def test_verify_reports_it(broken: Broken) -> None:
    run = broken.run("verify", "-o", "json")
    assert run.code == ExitCode.VERIFICATION_FAILED
    assert any(broken.bad in " ".join(p["snapshots"]) + p["object"] for p in json.loads(run.out)["problems"])


# -- addressing it --------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["full id", "prefix"])
@pytest.mark.parametrize(
    "command",
    [
        ["snapshot", "show", "{ref}"],
        ["snapshot", "ls", "{ref}"],
        ["snapshot", "export", "{ref}", "-f", "{tmp}/out.tar.gz"],
        ["restore", "path", "{ref}", "{tmp}/restored"],
        ["restore", "path", "{ref}:file.txt", "{tmp}/restored"],
        ["verify", "--snapshot", "{ref}"],
        [
            "restore",
            "etcd",
            "{ref}",
            "--name",
            "m",
            "--data-dir",
            "{tmp}/etcd",
            "--initial-cluster",
            "m=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:2380",
        ],
    ],
    ids=["show", "ls", "export", "restore path", "restore subpath", "verify --snapshot", "restore etcd"],
)
def test_addressing_it_names_the_corruption(broken: Broken, command: list[str], how: str) -> None:
    ref = broken.bad if how == "full id" else broken.bad[:8]
    args = [a.format(ref=ref, tmp=broken.tmp) for a in command]
    _names_it(broken.run(*args), broken.bad)
    assert not (broken.tmp / "restored" / "file.txt").exists()
    assert not (broken.tmp / "out.tar.gz").exists()


def test_a_restore_plan_naming_it_names_the_corruption(broken: Broken) -> None:
    plan = plan_file(broken.tmp, broken.repo, snapshot=broken.bad)
    _names_it(broken.run("restore", "plan", str(plan)), broken.bad)
    _names_it(broken.run("restore", "plan", str(plan), "--snapshot", broken.bad[:8]), broken.bad)


def test_prune_refuses_and_deletes_nothing(broken: Broken) -> None:
    def files() -> list[str]:  # the audit record of the refused prune is the one thing added
        return sorted(
            str(p.relative_to(broken.repo)) for p in broken.repo.rglob("*") if "audit" not in str(p)
        )

    before = files()
    run = broken.run("prune", "--keep-last", "1")
    assert run.code == ExitCode.VERIFICATION_FAILED, run.err
    assert "nothing is pruned" in run.err
    assert files() == before


def test_the_readable_snapshot_still_restores(broken: Broken) -> None:
    run = broken.run("restore", "path", broken.good, str(broken.tmp / "ok"))
    assert run.code == 0, run.err
    assert (broken.tmp / "ok" / "file.txt").read_text() == "the first backup\n" * 100
    shown = broken.run("snapshot", "show", broken.good[:8], "-o", "json")
    assert shown.code == 0, shown.err


def test_forget_removes_an_unreadable_snapshot_so_that_prune_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "unlocked"
    monkeypatch.setenv("DRKIT_REPO", str(repo))
    monkeypatch.setenv("DRKIT_PASSWORD", MASTER)
    monkeypatch.setenv("DRKIT_SCRYPT_N", "1024")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    assert drkit(capsys, "repo", "init", "--no-lock").code == 0
    good = drkit(capsys, "backup", "path", str(src), "-o", "json").json()["id"]
    (src / "a.txt").write_text("b\n")
    bad = drkit(capsys, "backup", "path", str(src), "-o", "json").json()["id"]
    _flip(repo / "snapshots" / bad)
    assert drkit(capsys, "prune").code == ExitCode.VERIFICATION_FAILED
    forgot = drkit(capsys, "forget", bad[:8], "-o", "json")
    assert forgot.code == 0, forgot.err
    assert forgot.json()["forgotten"] == [bad]
    listed = drkit(capsys, "snapshots", "-o", "json")
    assert [r["id"] for r in listed.json()] == [good]
    assert drkit(capsys, "prune").code == 0
    assert drkit(capsys, "verify").code == 0
