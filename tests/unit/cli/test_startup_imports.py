"""A real `drkit backup path` into a local repository, run in a fresh interpreter, loads only what that
path uses: no Kubernetes client, pydantic, jinja2, scheduler or S3 client, no rich without bars and no
YAML without ``-o yaml`` (the modules are counted after the command ran, not timed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drkit.errors import ExitCode

# a package a local `backup path` never uses, by top-level name (and why it is not needed)
HEAVY = {
    "kubernetes": "the cluster commands",
    "pydantic": "plans and configuration files",
    "jinja2": "reports",
    "apscheduler": "the daemon",
    "boto3": "S3 repositories",
    "botocore": "S3 repositories",
    "grpc": "etcd",
    "rich": "progress bars, which --no-progress does not draw",
    "yaml": "-o yaml",
}
# drkit's own modules a backup does not run
NOT_FOR_BACKUP = {
    "drkit.cli.richprogress",
    "drkit.kube",
    "drkit.etcd",
    "drkit.storage.s3",
    "drkit.daemon",
    "drkit.repo.engine.restore",
    "drkit.repo.engine.verify",
    "drkit.repo.engine.prune",
    "drkit.repo.engine.retention",
}

_RUN = """
import atexit, sys
def _write():
    with open(sys.argv[1], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
atexit.register(_write)
from drkit.cli.main import main
main(sys.argv[2:])
"""


def _drkit(*args: str, modules: Path) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(modules), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return set(modules.read_text().split())


@pytest.mark.parametrize("output", ["table", "json"])
def test_a_local_backup_path_imports_no_heavy_package(tmp_path: Path, output: str) -> None:
    password = tmp_path / "pw"
    password.write_text("a passphrase for the start-up import test\n")
    repo = ["--repo", str(tmp_path / "repo"), "--password-file", str(password)]
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "file").write_bytes(b"some bytes " * 100)
    _drkit("repo", "init", *repo, modules=tmp_path / "init.txt")

    loaded = _drkit(
        "backup", "path", str(data), *repo, "--no-progress", "-o", output, modules=tmp_path / "backup.txt"
    )

    assert "drkit.repo.engine.backup" in loaded  # it did back up (the list is of the command that ran)
    tops = {name.split(".")[0] for name in loaded}
    assert {name: why for name, why in HEAVY.items() if name in tops} == {}
    assert not {m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_FOR_BACKUP)}


_AT_UNLOCK = """
import sys
from drkit.repo.format import unlocking
started = unlocking.Unlocking.__init__
def _record(self, *args, **kwargs):
    with open(sys.argv[1], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
    started(self, *args, **kwargs)
unlocking.Unlocking.__init__ = _record
from drkit.cli.main import main
main(sys.argv[2:])
"""

# what a backup imports while scrypt derives the key on its thread (it releases the GIL), not before
LOADED_WHILE_DERIVING = {
    "drkit.repo.repository",
    "drkit.repo.engine.backup",
    "drkit.repo.engine.snapshotwriter",
    "drkit.repo.format.index",
    "drkit.repo.format.tree",
}


def test_a_backup_starts_deriving_the_key_before_it_imports_the_engine(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("a passphrase for the start-up import test\n")
    repo = ["--repo", str(tmp_path / "repo"), "--password-file", str(password)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_bytes(b"some bytes")
    _drkit("repo", "init", *repo, modules=tmp_path / "init.txt")
    at_unlock = tmp_path / "at-unlock.txt"

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _AT_UNLOCK,
            str(at_unlock),
            "backup",
            "path",
            str(data),
            *repo,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert out.returncode == 0, out.stderr
    assert "snapshot" in out.stdout
    loaded = set(at_unlock.read_text().split())
    assert "drkit.repo.format.keyslots" in loaded  # the recording ran when the derivation started
    assert LOADED_WHILE_DERIVING & loaded == set()


def test_a_cluster_request_and_its_etcd_start_need_no_repository_module() -> None:
    """`backup run` builds its request and asks etcd for Status and HashKV before it imports the
    repository's modules, which then load while etcd answers and the key is derived."""
    code = (
        "import sys\n"
        "from drkit.capture.request import request_from_settings\n"
        "from drkit.capture.cluster import start_etcd\n"
        "print(' '.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(out.stdout.split())
    assert "drkit.capture.cluster" in loaded
    assert {*LOADED_WHILE_DERIVING, "drkit.capture.volumes", "drkit.repo.engine.pathbackup"} & loaded == set()


_AT_ETCD = """
import sys
from drkit.etcd import early
started = early.EarlySnapshot.__init__
def _record(self, *args, **kwargs):
    with open(sys.argv[1], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
    started(self, *args, **kwargs)
early.EarlySnapshot.__init__ = _record
from drkit.cli.main import main
main(sys.argv[2:])
"""


def test_an_etcd_backup_asks_etcd_before_it_imports_the_capture_and_repository_modules(
    tmp_path: Path,
) -> None:
    """etcd hashes its key space (HashKV) while they load; a refused etcd still fails as it did."""
    password = tmp_path / "pw"
    password.write_text("a passphrase for the start-up import test\n")
    repo = ["--repo", str(tmp_path / "repo"), "--password-file", str(password)]
    _drkit("repo", "init", *repo, modules=tmp_path / "init.txt")
    at_etcd = tmp_path / "at-etcd.txt"

    etcd = ["--etcd-endpoints", "http://127.0.0.1:1", "--no-resources"]
    out = subprocess.run(
        [sys.executable, "-c", _AT_ETCD, str(at_etcd), "--timeout", "2", "backup", "run", *repo, *etcd],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert out.returncode == ExitCode.ETCD, out.stderr
    assert "no healthy etcd endpoint: http://127.0.0.1:1" in out.stderr
    loaded = set(at_etcd.read_text().split())
    assert "drkit.repo.format.unlocking" in loaded  # the key derivation started first
    assert {*LOADED_WHILE_DERIVING, "drkit.capture.cluster", "drkit.capture.request"} & loaded == set()


# parsed before the key derivation starts, but loaded only after it: the etcd client's modules (the
# gateway's http.client and ssl, the snapshot stream) and the volume claims (with hooks and movers)
LOADED_AFTER_DERIVING_STARTS = {
    "drkit.etcd.client",
    "drkit.etcd.transport",
    "drkit.etcd.snapshot",
    "http.client",
    "ssl",
    "drkit.capture.claims",
    "drkit.capture.hooks",
    "drkit.capture.movers",
}


def test_an_etcd_backup_starts_deriving_the_key_before_it_imports_the_etcd_client(tmp_path: Path) -> None:
    """On the etcd path the key derivation (scrypt, ~0.2 s) is on the way to the stream's first byte:
    every import before it delays the stream; those after it run while scrypt does."""
    password = tmp_path / "pw"
    password.write_text("a passphrase for the start-up import test\n")
    repo = ["--repo", str(tmp_path / "repo"), "--password-file", str(password)]
    _drkit("repo", "init", *repo, modules=tmp_path / "init.txt")
    at_unlock = tmp_path / "at-unlock.txt"

    etcd = ["--etcd-endpoints", "http://127.0.0.1:1", "--no-resources"]
    out = subprocess.run(
        [sys.executable, "-c", _AT_UNLOCK, str(at_unlock), "--timeout", "2", "backup", "run", *repo, *etcd],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert out.returncode == ExitCode.ETCD, out.stderr  # nothing listens there: the etcd client was made
    loaded = set(at_unlock.read_text().split())
    assert {"drkit.repo.format.keyslots", "drkit.etcd.config"} <= loaded  # the endpoints were parsed
    assert LOADED_AFTER_DERIVING_STARTS & loaded == set()


def test_a_volume_path_map_without_volumes_is_still_refused() -> None:
    from click.testing import CliRunner

    from drkit.cli.main import cli

    result = CliRunner().invoke(
        cli, ["backup", "run", "--repo", "/nonexistent", "--volume-path-map", "a=b", "--no-resources"]
    )
    assert result.exit_code == 2, result.output
    assert "--volume-path-map/--volume-snapshot-class need --volumes all or a selector" in result.output
