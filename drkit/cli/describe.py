"""The text of `drkit snapshot show`: a describe page made of sections, from ``describe_snapshot``."""

from __future__ import annotations

from typing import Any

from drkit.cli.render import human_bytes, plural

INDENT = "  "


def describe_text(page: dict[str, Any]) -> str:
    lines = [f"Snapshot {page['id']}"]
    lock = page["lock"]
    writer = page["written_by"]
    st = page["stats"]
    fields = [
        ("Kind", page["kind"]),
        ("Time", page["time"]),
        ("Tags", ", ".join(page["tags"]) or "-"),
        ("Paths", ", ".join(page["paths"]) or None),
        ("Parent", page["parent"][:8] if page["parent"] else "-"),
        ("Lock", f"{lock['mode'] or 'none'}, retained until {lock['retain_until'] or '-'}"),
        ("Host", writer["host"]),
        ("Schedule", writer["schedule"] or "- (not from a schedule)"),
        ("drkit", writer["version"] or "- (not recorded)"),
        (
            "Size",
            f"{human_bytes(st['bytes'])} in {plural(st['files'], 'file')} "
            f"({human_bytes(st['new_bytes'])} new, {human_bytes(st['stored_bytes'])} stored) "
            f"in {st['duration_s']:.1f}s",
        ),
    ]
    lines += _fields(fields)
    etcd = page.get("etcd")
    if etcd:
        lines += ["", "etcd:"]
        lines += _fields(
            [
                ("Revision", _revision(etcd)),
                (
                    "HashKV",
                    f"{etcd['hash_kv']} at revision {etcd['hash_kv_revision']} "
                    f"(compacted at {etcd['compact_revision']})",
                ),
                ("Size", human_bytes(int(etcd["size"] or 0))),
                ("SHA-256", etcd["sha256"]),
                ("Endpoint", etcd["endpoint"]),
            ],
            INDENT,
        )
    res = page.get("resources")
    if res:
        kube = page.get("kubernetes") or {}
        where = f" from {kube.get('server')} (context {kube.get('context')})" if kube.get("server") else ""
        lines += ["", f"Resources: {res['objects']} objects{where}"]
        width = max((len(k) for k in res["counts"]), default=0)
        lines += [f"{INDENT}{k.ljust(width)}  {v}" for k, v in res["counts"].items()]
        lines += [f"{INDENT}FAILED {e}" for e in res["errors"]]
    vols = page.get("volumes")
    if vols:
        lines += ["", f"Volumes (mover {vols['mover']}):"]
        for v in vols["volumes"]:
            if v["status"] == "ok":
                size = human_bytes(int(v["bytes"] or 0))
                lines.append(
                    f"{INDENT}{v['claim']}: {plural(int(v['files'] or 0), 'file')}, {size} ({v['mover']})"
                )
            else:
                lines.append(f"{INDENT}{v['claim']}: FAILED ({v['mover']}): {v['error']}")
        lines += [f"{INDENT}{claim}: skipped: {why}" for claim, why in sorted(vols["skipped"].items())]
    if page.get("drill_result"):
        result = page["drill_result"]
        lines += [
            "",
            f"Drill result: {'passed' if result.get('ok') else 'failed'} (plan {result.get('plan')})",
        ]
    ver = page["verification"]
    lines += ["", "Verification:"]
    if ver["status"] in ("ok", "failed", "unknown") and "time" in ver:
        lines.append(
            f"{INDENT}{ver['status']}: verify at {ver['time']} by {ver['by']} "
            f"(data read: {ver['read_data_percent']}%)"
        )
    else:
        lines.append(f"{INDENT}{ver['status']}: {ver.get('why', '')}")
    lines += ["", "Drills:"]
    drills = page["drills"]
    for d in drills:
        outcome = "passed" if d["ok"] else "FAILED"
        lines.append(f"{INDENT}{d['finished']}: {outcome} (plan {d['plan']}, record {d['record']})")
    if not drills:
        lines.append(f"{INDENT}none has restored this snapshot")
    return "\n".join(lines)


def _revision(etcd: dict[str, Any]) -> object:
    """The exact revision, or the bracket the stream was taken in when etcd was written meanwhile
    (restore reads the exact one from the file)."""
    if etcd.get("revision") is not None:
        return etcd["revision"]
    low, high = etcd.get("revision_min"), etcd.get("revision_max")
    if low is None or high is None:
        return None
    return f"between {low} and {high} (written to during the snapshot; restore reads it from the file)"


def _fields(pairs: list[tuple[str, Any]], indent: str = "") -> list[str]:
    shown = [(k, v) for k, v in pairs if v is not None]
    width = max(len(k) for k, _ in shown) + 1
    return [f"{indent}{(k + ':').ljust(width)} {v}" for k, v in shown]
