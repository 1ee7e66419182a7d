"""A real `drkit backup run` of etcd alone (a real etcd, a local repository), in a fresh interpreter,
loads only what that path uses: not the file-tree engine, whose modules a stream into a snapshot never
runs (~15 ms of CPU on the etcd path, which is bound by CPU: docs/performance.md, "etcd"). The
modules are listed after the command ran, not timed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from drkit.sandbox.etcd import EtcdServer

# the file-tree engine: `backup path` and volume directories, not a stream or API objects
FILE_TREE_ENGINE = {
    "drkit.repo.engine.backup",
    "drkit.repo.engine.dirscan",
    "drkit.repo.engine.fsmeta",
    "drkit.repo.engine.pathbackup",
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


def _drkit(*args: str, modules: Path) -> tuple[set[str], str]:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, str(modules), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return set(modules.read_text().split()), out.stdout


def test_an_etcd_backup_does_not_import_the_file_tree_engine(tmp_path: Path, etcd: EtcdServer) -> None:
    password = tmp_path / "pw"
    password.write_text("a passphrase for the etcd import test\n")
    repo = ["--repo", str(tmp_path / "repo"), "--password-file", str(password)]
    _drkit("repo", "init", *repo, modules=tmp_path / "init.txt")

    loaded, stdout = _drkit(
        "backup",
        "run",
        *repo,
        "--etcd-endpoints",
        etcd.endpoint,
        "--no-resources",
        "--no-progress",
        modules=tmp_path / "backup.txt",
    )

    assert "etcd" in stdout
    # it did store the stream (the list is of the command that ran)
    assert {"drkit.repo.engine.snapshotwriter", "drkit.etcd.grpcsnapshot"} <= loaded
    assert FILE_TREE_ENGINE & loaded == set()
