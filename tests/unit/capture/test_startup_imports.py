"""``drkit backup run`` of etcd alone starts without importing the Kubernetes client or the schedule
models: together ~1 s of a new process's start-up, a large part of an etcd snapshot's time
(docs/performance.md, "etcd")."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("kubernetes", "apscheduler", "pydantic")


def test_the_backup_command_and_an_etcd_only_capture_import_no_kubernetes_client_nor_schedules() -> None:
    code = (
        "import json, sys\n"
        "import drkit.cli.main, drkit.cli.backup, drkit.cli.repoopts\n"
        "import drkit.capture.request, drkit.capture.cluster, drkit.capture.resources\n"
        "import drkit.capture.volumes, drkit.capture.jobclient, drkit.etcd.grpcsnapshot\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_the_kubernetes_client_is_still_imported_where_one_is_made() -> None:
    code = (
        "import sys\n"
        "from drkit.capture.request import request_from_settings\n"
        "from drkit.kube.client import KubeClient\n"
        "print('kubernetes' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
