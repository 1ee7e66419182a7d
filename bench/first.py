"""Repeated first backups of the source, small-files or mixed tree, into a fresh repository each round.

    python -m bench.first [--rounds 3] [--tools drkit,kopia] [--drkit-ref main --drkit-ref HEAD]
                          [--dataset source|small|mixed]

``python -m bench`` measures a first backup once per run, beside the incremental and the restore of
the same dataset (the restore of 62k files takes minutes). This measures only the first backup of the
source tree (``dataset.ensure_source``; ``--dataset small``: the 200,000 small files of
``dataset.ensure_small``; ``--dataset mixed``: the large, medium and duplicate files of
``dataset.ensure_mixed``), cheaply and many times: each round every tool starts from an
empty repository (prepare + init, untimed) and backs the tree up (timed), the tools taking turns going
first (round *i* rotates the order by *i*). Medians with the ratio to kopia, CPU time and each tool's
own peak RSS, as ``bench.incremental`` reports them.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shlex
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import dataset
from bench.incremental import Sample, conditions, conditions_line, make_tools, sample, summarise, to_markdown
from bench.measure import Measurement, NoGnuTime, gnu_time, run
from bench.run import machine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", default="drkit,kopia")
    parser.add_argument("--drkit-ref", action="append", default=[], help="a drkit commit (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--dataset", choices=("source", "small", "mixed"), default="source")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        gnu_time()
    except NoGnuTime as e:
        print(e, file=sys.stderr)
        return 2
    root: Path = args.root.resolve()
    (root / ".bench").mkdir(parents=True, exist_ok=True)
    with (root / ".bench" / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another bench run holds {lock.name}", file=sys.stderr)
            return 2
        return _run(root, args)


def _run(root: Path, args: argparse.Namespace) -> int:
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = root / ".bench" / "data" / f"{args.dataset}-{args.scale:g}"
    logs = root / ".bench" / "logs" / "first"
    tools = make_tools(root, [t.strip() for t in args.tools.split(",") if t.strip()], args.drkit_ref)
    if args.dataset == "small":
        files = dataset.ensure_small(source, args.scale)
    elif args.dataset == "mixed":
        files = len(dataset.ensure_mixed(source, args.scale))
    else:
        files = dataset.ensure_source(source, args.scale)
    meta: dict[str, object] = {
        "started": started,
        "command": shlex.join(["python", "-m", "bench.first", *sys.argv[1:]]),
        "machine": machine(),
        "dataset": f"{args.dataset} tree at scale {args.scale:g}: {files} files",
        "versions": "; ".join(f"{t.name}: {t.version()}" for t in tools),
    }
    samples: list[Sample] = []
    for i in range(args.rounds):
        order = tools[i % len(tools) :] + tools[: i % len(tools)]
        for t in order:
            t.prepare()  # an empty work directory: a fresh repository, no cache
            if not run(t.init(), logs / f"{t.name}.log").ok:
                print(f"{t.name}: init failed, see {logs / (t.name + '.log')}", file=sys.stderr)
                return 1
            dataset.warm(source)
            dataset.settle()  # the last round's writes (and the init's) not left to land in this step
            m: Measurement = run(t.backup(source, f"first-{i}"), logs / f"{t.name}.log")
            synced = dataset.settle()
            samples.append(sample(t.name, i, m, synced))
            print(
                f"round {i + 1}: {t.name} {m.seconds:.2f} s (cpu {m.cpu_seconds:.2f} s, "
                f"{m.max_rss_kib // 1024} MiB, {conditions_line(m)}, then sync {synced:.2f} s)"
            )
    meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta.update(conditions(samples))
    rows = summarise(samples, tools)
    out = root / ".bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "first-" + started.replace(":", "")
    md = to_markdown(meta, rows).replace("repeated incrementals", "repeated first backups")
    (out / f"{stem}.md").write_text(md)
    body = {"meta": meta, "summary": rows, "samples": [asdict(s) for s in samples]}
    (out / f"{stem}.json").write_text(json.dumps(body, indent=2))
    print(md)
    print(f"results: {out / stem}.md and .json")
    return 0 if all(s.ok for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
