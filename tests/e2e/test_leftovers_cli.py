"""`drkit verify` reports, and `drkit prune` removes, what killed backups left in a local repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.treecompare import make_sample_tree


def test_verify_reports_and_prune_removes_old_temporary_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    env = {**os.environ, "DRKIT_REPO": str(repo), "DRKIT_PASSWORD": "pw", "DRKIT_SCRYPT_N": "1024"}

    def drkit(*args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "drkit", *args, "-o", "json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"drkit {' '.join(args)} -> {result.returncode}\n{result.stderr}"
        return json.loads(result.stdout)

    subprocess.run(
        [sys.executable, "-m", "drkit", "repo", "init", "--lock-mode", "none"],
        env=env,
        check=True,
        capture_output=True,
    )
    drkit("backup", "path", str(make_sample_tree(tmp_path / "src")))
    old = repo / "data" / ".tmp-00112233445566ff"
    old.write_bytes(b"x" * 4096)
    then = time.time() - 7200
    os.utime(old, (then, then))
    young = repo / "data" / ".tmp-ffeeddccbbaa0099"
    young.write_bytes(b"y" * 10)
    report = drkit("verify")
    assert report["ok"] is True
    assert sorted((item["name"], item["size"]) for item in report["leftovers"]) == [
        ("data/.tmp-00112233445566ff", 4096),
        ("data/.tmp-ffeeddccbbaa0099", 10),
    ]
    planned = drkit("prune", "--dry-run")
    assert [item["name"] for item in planned["leftovers_removed"]] == ["data/.tmp-00112233445566ff"]
    assert old.exists()
    pruned = drkit("prune")
    assert [item["name"] for item in pruned["leftovers_removed"]] == ["data/.tmp-00112233445566ff"]
    assert [item["name"] for item in pruned["leftovers_kept_young"]] == ["data/.tmp-ffeeddccbbaa0099"]
    assert not old.exists()
    assert young.exists()
