"""A small repository for the status page tests: two clusters' backups with their resources, and a
drill that failed (snapshots written at chosen times through the repository's clock)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drkit.capture.cluster import OBJECTS_PATH
from drkit.repo.format.keyslots import Credential
from drkit.repo.format.model import KIND_DRILL, Snapshot
from drkit.repo.format.retainuntil import LockMode
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.url import open_store

PASSWORD = "status page test passphrase"
# Five days back from today at the nightly's 02:00: the local store checks retain-until dates against the
# real clock, so a fixed date would make every 14-day lock "in the past" two weeks later.
START = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=5)
PROD = {"server": "https://prod.example:6443", "context": "prod"}
STAGING = {"server": "https://staging.example:6443", "context": "staging"}
NIGHTLY = """apiVersion: drkit.io/v1
kind: Schedule
metadata: {name: nightly}
spec:
  cron: "0 2 * * *"
  repository: {url: REPO}
"""


@dataclass
class Built:
    repo: Repository
    url: str
    password_file: Path
    schedules: Path
    backups: list[Snapshot]
    drill: Snapshot
    clock: list[datetime]


def _objects(namespaces: dict[str, int]) -> bytes:
    records = []
    for ns, n in namespaces.items():
        for i in range(n):
            name = f"cm-{i}"
            path = f"resources/{ns}/configmaps/{name}.json"
            records.append(
                {"path": path, "group": "", "version": "v1", "resource": "configmaps", "kind": "ConfigMap"}
                | {"namespace": ns, "name": name, "resourceVersion": "1"}
            )
    return json.dumps(records).encode()


def backup(
    built: Built, when: datetime, schedule: str, kube: dict[str, str], namespaces: dict[str, int]
) -> Snapshot:
    built.clock[0] = when
    counts = {"configmaps": sum(namespaces.values()), "deployments.apps": 2}
    with built.repo.new_snapshot(kind="cluster", tags=(f"schedule={schedule}",), host="drkit-0") as snap:
        snap.add_bytes(OBJECTS_PATH, _objects(namespaces))
        snap.add_bytes("etcd/snapshot.db", when.isoformat().encode() * 4000)
        snap.set_meta({"kubernetes": kube, "resources": {"objects": sum(counts.values()), "counts": counts}})
    assert snap.snapshot is not None
    built.backups.append(snap.snapshot)
    return snap.snapshot


def drill(built: Built, when: datetime, restored: Snapshot, *, ok: bool) -> Snapshot:
    built.clock[0] = when
    summary = {
        "id": f"drill-{when:%H%M}",
        "ok": ok,
        "plan": "shop",
        "provider": "local",
        "snapshot": restored.id,
        "snapshotTime": restored.time.isoformat(),
        "started": (when - timedelta(minutes=2)).isoformat(),
        "finished": when.isoformat(),
        "rtoS": 95.5,
        "rpoS": (when - restored.time).total_seconds(),
        "phases": {},
        "checks": {"passed": 1, "failed": 0 if ok else 1},
        "failedChecks": [] if ok else ["web answers 200"],
        "error": None,
    }
    tags = ("drill", "plan=shop", "passed" if ok else "failed")
    with built.repo.new_snapshot(kind=KIND_DRILL, tags=tags, host="drkit-0") as snap:
        snap.add_bytes("drill/result.json", json.dumps(summary).encode())
        snap.set_meta({"drill": summary})
    assert snap.snapshot is not None
    return snap.snapshot


def build(tmp: Path, *, with_drill: bool = True) -> Built:
    clock = [START]
    store = open_store(str(tmp / "repo"))
    repo = Repository.init(
        store,
        Credential(passphrase=Secret(PASSWORD)),
        lock_mode=LockMode.GOVERNANCE,
        retention=timedelta(days=14),
        scrypt_n=1024,
        clock=lambda: clock[0],
    )
    password_file = tmp / "password"
    password_file.write_text(PASSWORD)
    schedules = tmp / "schedules"
    schedules.mkdir()
    (schedules / "nightly.yaml").write_text(NIGHTLY.replace("REPO", str(tmp / "repo")))
    built = Built(repo, str(tmp / "repo"), password_file, schedules, [], None, clock)  # type: ignore[arg-type]
    for day in range(3):
        backup(built, START + timedelta(days=day), "nightly", PROD, {"shop": 3 + day, "billing": 2})
        backup(built, START + timedelta(days=day, hours=1), "staging", STAGING, {"web": 1})
    if with_drill:
        built.drill = drill(built, START + timedelta(days=2, hours=3), built.backups[-2], ok=False)
    return built
