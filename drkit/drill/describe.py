"""One snapshot described, as `drkit snapshot show` prints it (compare `velero backup describe`).

    page = describe_snapshot(repo, "latest")     # a JSON-able dict

What was captured (etcd revision and HashKV, resource counts by type, each volume with its files,
bytes, mover and error), its lock (mode, retain-until), its parent, who wrote it (host, schedule,
drkit version when recorded), and what proved it since: the newest ``verify`` of the audit log that
covered it and the drills that restored it. Everything comes from manifests (no pack is read) and the
audit log (which needs the master key: with a write-only credential it is left out, and said so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drkit.drill.store import drill_records
from drkit.errors import DrkitError
from drkit.repo.format import audit
from drkit.repo.format.model import KIND_DRILL, Snapshot
from drkit.repo.repository import Repository

VERIFY_SCOPE_ALL = "all"


def describe_snapshot(repo: Repository, ref: str) -> dict[str, Any]:
    """The describe page of snapshot ``ref`` (an id, a unique prefix or ``latest``)."""
    snap = repo.find_snapshot(ref)
    snapshots = repo.snapshots()
    meta = _mapping(snap.meta)
    writer = _mapping(meta.get("drkit"))
    st = snap.stats
    page: dict[str, Any] = {
        "id": snap.id,
        "short_id": snap.short_id,
        "kind": snap.kind,
        "time": snap.time.isoformat(),
        "tags": list(snap.tags),
        "paths": list(snap.paths),
        "parent": snap.parent,
        "lock": {
            "mode": str(repo.config.lock_mode.value) if repo.config.lock_mode else None,
            "retain_until": snap.retain_until.isoformat() if snap.retain_until else None,
        },
        "written_by": {
            "host": snap.host,
            "schedule": writer.get("schedule"),
            "version": writer.get("version"),
        },
        "stats": {
            "files": st.files,
            "dirs": st.dirs,
            "bytes": st.bytes,
            "new_bytes": st.new_bytes,
            "stored_bytes": st.stored_bytes,
            "duration_s": round(st.duration_s, 3),
            "skipped": list(st.skipped),
        },
        "etcd": _etcd(meta.get("etcd")),
        "kubernetes": dict(_mapping(meta.get("kubernetes"))) or None,
        "resources": _resources(meta.get("resources")),
        "volumes": _volumes(meta.get("volumes")),
    }
    if snap.kind == KIND_DRILL and isinstance(meta.get("drill"), dict):
        page["drill_result"] = meta["drill"]
    page["verification"] = _verification(repo, snap)
    page["drills"] = [
        {
            "record": r.snapshot.short_id,
            "finished": r.finished.isoformat(),
            "ok": r.ok,
            "plan": r.summary.get("plan"),
        }
        for r in drill_records(snapshots)
        if r.restored_snapshot == snap.id
    ]
    return page


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _etcd(record: object) -> dict[str, Any] | None:
    if not isinstance(record, Mapping):
        return None
    hash_kv = _mapping(record.get("hash_kv"))
    return {
        "revision": record.get("revision"),
        "revision_min": record.get("revision_min"),
        "revision_max": record.get("revision_max"),
        "hash_kv": hash_kv.get("hash"),
        "hash_kv_revision": hash_kv.get("revision"),
        "compact_revision": hash_kv.get("compact_revision"),
        "size": record.get("size"),
        "sha256": record.get("sha256"),
        "endpoint": record.get("endpoint"),
    }


def _resources(record: object) -> dict[str, Any] | None:
    if not isinstance(record, Mapping):
        return None
    counts = _mapping(record.get("counts"))
    errors = _list(record.get("errors"))
    return {
        "objects": record.get("objects", sum(int(v) for v in counts.values())),
        "counts": {str(k): v for k, v in sorted(counts.items()) if v},
        "errors": [_error_text(e) for e in errors],
    }


def _error_text(error: object) -> str:
    if not isinstance(error, Mapping):
        return str(error)
    where = (
        f"{error.get('resource')} in namespace {error['namespace']}"
        if error.get("namespace")
        else error.get("resource")
    )
    return f"{where}: {error.get('message')}"


def _volumes(record: object) -> dict[str, Any] | None:
    if not isinstance(record, Mapping):
        return None
    items = _list(record.get("volumes"))
    return {
        "mover": record.get("mover"),
        "volumes": [
            {
                "claim": f"{v.get('namespace')}/{v.get('pvc')}",
                "status": v.get("status"),
                "files": v.get("files"),
                "bytes": v.get("bytes"),
                "mover": v.get("mode"),
                "error": v.get("error"),
            }
            for v in items
            if isinstance(v, Mapping)
        ],
        "skipped": dict(_mapping(record.get("skipped"))),
    }


def _verification(repo: Repository, snap: Snapshot) -> dict[str, Any]:
    """The newest ``verify`` in the audit log that checked ``snap`` (all snapshots, or this one)."""
    try:
        log = audit.list_records(repo)
    except DrkitError as exc:
        return {"status": "unknown", "why": f"the audit log cannot be read: {exc}"}
    for rec in reversed(log.records):
        if rec.action != "verify" or rec.time < snap.time:
            continue
        scope = rec.detail.get("scope", VERIFY_SCOPE_ALL)
        if scope not in (VERIFY_SCOPE_ALL, snap.id):
            continue
        affected = _list(rec.detail.get("affected"))
        if rec.result == "ok":
            status = "ok"
        elif snap.short_id in affected:
            status = "failed"
        elif "affected" in rec.detail and not rec.detail.get("affectedTruncated"):
            status = "ok"  # the problems found were in other snapshots
        else:
            status = "unknown"
        return {
            "status": status,
            "time": rec.time.isoformat(),
            "read_data_percent": rec.detail.get("readDataPercent", 0),
            "by": f"{rec.actor.user}@{rec.actor.host}",
        }
    return {"status": "never", "why": "no `drkit verify` since it was written (the audit log records each)"}
