"""``python -m bench``: drkit's file-tree backup measured side by side with kopia, restic and borg.

    python -m bench                       # full size: ~2 GiB mixed tree and 200k small files
    python -m bench --scale 0.1           # a quick run on a tenth of the data
    python -m bench --repeat 5            # the median of 5 runs (default 3; the tools take turns going first)
    python -m bench --tools drkit,kopia   # a subset
    python -m bench --tools drkit,drkit-raw,kopia   # also drkit without compression (kopia's default)
    python -m bench --require-all         # fail (exit 2) when a tool is missing instead of skipping it
    python -m bench --drkit-ref worktree  # drkit as checked out (default: HEAD, exported to .bench/drkit/)
    python -m bench --datasets source     # only the real source tree (first, 1%-of-files change, restore)

Install the competitors first with ``hack/bench-tools.sh``. Results go to ``.bench/results/``
(markdown and JSON, also copied as ``latest.*``); each tool's output goes to ``.bench/logs/``.
"""

from __future__ import annotations

import argparse
import fcntl
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from bench.measure import NoGnuTime, gnu_time
from bench.report import Report
from bench.run import DATASETS, MissingTools, Options, execute
from bench.setaside import SetAside
from bench.tools import KNOWN, ORDER


def parse(argv: list[str]) -> tuple[Options, int]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="dataset size relative to full (default 1)")
    parser.add_argument(
        "--tools",
        default=",".join(ORDER),
        help=f"comma-separated tools of {','.join(KNOWN)} (default {','.join(ORDER)})",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--require-all", action="store_true", help="fail when a tool is missing")
    parser.add_argument(
        "--drkit-ref",
        default="HEAD",
        help="commit of drkit to measure (exported to .bench/drkit/), or 'worktree' for the checkout as is",
    )
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help=f"comma-separated datasets of {','.join(DATASETS)} (default: all)",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="checkout holding .bench/ (default: .)")
    args = parser.parse_args(argv)
    tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
    unknown = [t for t in tools if t not in KNOWN]
    if unknown:
        parser.error(f"unknown tools: {', '.join(unknown)} (choose from {', '.join(KNOWN)})")
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    if not datasets or any(d not in DATASETS for d in datasets):
        parser.error(f"--datasets: choose from {', '.join(DATASETS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 0 < args.scale <= 4:
        parser.error("--scale must be in (0, 4]")
    command = shlex.join(["python", "-m", "bench", *argv])
    opts = Options(
        args.root.resolve(), args.scale, tools, args.require_all, command, args.drkit_ref, datasets=datasets
    )
    return opts, args.repeat


def main(argv: list[str] | None = None) -> int:
    opts, repeat = parse(sys.argv[1:] if argv is None else argv)
    try:
        gnu_time()
    except NoGnuTime as e:
        print(e, file=sys.stderr)
        return 2
    opts.bench_dir.mkdir(parents=True, exist_ok=True)
    with (opts.bench_dir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another bench run holds {lock.name}: runs share .bench/work", file=sys.stderr)
            return 2
        return _run(opts, repeat)


def _run(opts: Options, repeat: int) -> int:
    reports: list[Report] = []
    aside = SetAside(opts.bench_dir / "work" / "set-aside")
    aside.empty(settle=True)  # what an interrupted run left
    try:
        for i in range(repeat):
            print(f"== run {i + 1} of {repeat}")
            if i:
                aside.empty(settle=True)  # the last run's trees, deleted and settled before this one
            reports.append(execute(replace(opts, rotation=i), aside=aside))
            report = Report.combine(reports)  # written after every run: an interrupted run keeps its results
            stem = "bench-" + str(report.meta["started"]).replace(":", "")
            md, js = report.write(opts.bench_dir / "results", stem)
    except MissingTools as e:
        print(f"missing tools (--require-all): {e}", file=sys.stderr)
        return 2
    finally:
        aside.empty(settle=False)
    print()
    print(report.to_markdown())
    print(f"results: {md} and {js}")
    return 0 if all(r.ok for r in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
