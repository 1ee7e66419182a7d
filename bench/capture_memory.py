"""Memory of a cluster capture's storing side, per object count, without an API server.

    .venv/bin/python -m bench.capture_memory [--objects 10000,50000,100000] [--namespaces 1,100]
        [--drkit-src DIR[,DIR]]

Each measurement is a child process (its own peak RSS from ``ru_maxrss``; nothing else ran in it)
that initialises a local repository and stores N ConfigMap-like objects (~0.5 KiB of JSON each,
all different) exactly as ``backup_cluster`` does: one blob per object at
``resources/core/v1/configmaps/<namespace>/<name>.json``, the ``capture/resources.json`` records,
then the commit (trees, index, manifest). The objects are spread evenly over the given number of
namespaces, in list order. ``bench.kube_capture`` measures the whole command against a real API
server; this isolates what drkit keeps per object, in seconds instead of minutes of object creation.
``--drkit-src`` runs the children from these source trees (``git archive`` exports) in turn. Each
child's repository is deleted when the child ends (also when it fails).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.tools import build_native

CHILD = r"""
import json, resource, sys, tempfile, time
from datetime import timedelta
from pathlib import Path
from drkit.capture import cluster
from drkit.capture.resources import CapturedObject, object_path
from drkit.repo.format.keyslots import Credential
from drkit.repo.repository import Repository
from drkit.secret import Secret
from drkit.storage.local import LocalStore

n, spread, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
repo = Repository.init(LocalStore(Path(tempfile.mkdtemp(dir=work))), Credential(passphrase=Secret("bench")),
                       lock_mode=None, retention=timedelta(0), scrypt_n=2**10)

def objects():
    for i in range(n):
        ns, name, rv = f"ns-{i * spread // n:04d}", f"cm-{i:07d}", str(1000 + i)
        meta = {"name": name, "namespace": ns, "resourceVersion": rv, "uid": f"{i:032x}"}
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "x" * 400 + str(i)}, "metadata": meta}
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        yield CapturedObject("", "v1", "configmaps", "ConfigMap", ns, name, rv, raw, "999")

started = time.monotonic()
with repo.new_snapshot(kind="cluster") as snap:
    if hasattr(cluster, "_store_objects"):  # since the sealing writer
        from drkit.capture.resourcesjson import RecordSpool
        spool = RecordSpool()
        cluster._store_objects(snap, objects(), spool)
        if hasattr(cluster, "_store_records"):  # since the free memory is returned before it
            cluster._store_records(snap, spool)
        else:
            snap.add_stream(cluster.OBJECTS_PATH, spool.pieces(), mtime=cluster.STABLE_MTIME)
    else:
        records = []
        for obj in objects():
            path = object_path(obj)
            snap.add_bytes(path, obj.raw, mtime=cluster.STABLE_MTIME)
            records.append(cluster._record(obj, path))
        snap.add_stream(cluster.OBJECTS_PATH, cluster.encode_records(records), mtime=cluster.STABLE_MTIME)
        del records
print(json.dumps({"seconds": time.monotonic() - started,
                  "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "files": snap.snapshot.stats.files}))
"""


def measure(
    objects: int, namespaces: int, src: Path | None, work: Path, *, child: str = CHILD
) -> dict[str, float]:
    """One child's result. Its repository (~130 MB at 100k objects) is made in a temporary directory
    under ``work`` that is deleted when the child ends, whether it succeeded or not."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    with tempfile.TemporaryDirectory(dir=work, prefix="capture-memory-") as tmp:
        out = subprocess.run(
            [sys.executable, "-c", child, str(objects), str(namespaces), tmp],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", default="10000,50000,100000")
    parser.add_argument("--namespaces", default="1,100", help="namespace spreads, comma-separated")
    parser.add_argument("--drkit-src", default="", help="source trees to run drkit from, comma-separated")
    parser.add_argument("--work", type=Path, default=Path(".bench"))
    args = parser.parse_args()
    sources: list[Path | None] = [Path(p).resolve() for p in args.drkit_src.split(",") if p] or [None]
    for src in sources:
        if src is not None:
            build_native(src)  # an export with C sources: built in place, as pip would
    counts = [int(c) for c in args.objects.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve()
    print("| tree | namespaces | objects | peak RSS | seconds | load |")
    print("|---|---:|---:|---:|---:|---:|")
    for spread in (int(s) for s in args.namespaces.split(",")):
        rss: dict[Path | None, list[tuple[int, float]]] = {s: [] for s in sources}
        for count in counts:
            for src in sources:
                load = os.getloadavg()[0]
                r = measure(count, spread, src, work)
                rss[src].append((count, r["max_rss_mib"]))
                name = "installed" if src is None else src.name
                print(
                    f"| {name} | {spread} | {count} | {r['max_rss_mib']:.1f} MiB | {r['seconds']:.1f} "
                    f"| {load:.1f} |",
                    flush=True,
                )
        for src, points in rss.items():
            (n0, r0), (n1, r1) = points[0], points[-1]
            if n1 > n0:
                name = "installed" if src is None else src.name
                slope = (r1 - r0) * 1024 / (n1 - n0) * 1024
                print(f"slope {name}, {spread} namespaces: {slope:.0f} bytes per object", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
