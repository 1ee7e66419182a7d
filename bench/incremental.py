"""Repeated incremental backups of the real source tree (1% of its files changed each round).

    python -m bench.incremental [--rounds 5] [--tools drkit,kopia] [--drkit-ref main --drkit-ref HEAD]

The nightly incremental of a volume with many files is the daemon's most common job; ``python -m
bench`` measures it once per run, after a first backup each time. This measures only it, many times
and cheaply: every tool backs the tree up once (untimed), then each round undoes the last change,
lets every tool back up the clean tree (untimed: the parent of the measured step), changes the same
1% of files again (a line appended, a later mtime) and times every tool's incremental backup. The
tools take turns going first (round *i* rotates the order by *i*), so outside load falls on all of
them alike; several ``--drkit-ref`` compare drkit commits in the same rounds. Medians are reported
with the ratio to kopia, CPU time and each tool's own peak RSS (``bench/measure.py``).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import shlex
import statistics
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import dataset
from bench.measure import Measurement, NoGnuTime, gnu_time, run
from bench.run import machine
from bench.tools import TOOL_CLASSES, Drkit, Tool, export_drkit, find_binary


@dataclass(frozen=True)
class Sample:
    tool: str
    round: int
    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    ok: bool
    load_before: float
    sync_seconds: float = 0.0
    """``sync`` right after the step (``dataset.settle``): the tool's writes still in the page cache."""
    probe_ms: float = 0.0
    """``measure.cpu_probe`` just before the step: the machine's speed then (lower is faster)."""
    steal_seconds: float = 0.0
    """``measure.host_steal`` over the step: CPU time the host gave to other guests meanwhile."""


def sample(tool: str, i: int, m: Measurement, synced: float) -> Sample:
    return Sample(
        tool,
        i,
        m.seconds,
        m.cpu_seconds,
        m.max_rss_kib,
        m.ok,
        m.load_before,
        synced,
        m.probe_ms,
        m.steal_seconds,
    )


def conditions(samples: list[Sample]) -> dict[str, str]:
    """The report's lines on what the machine was like: load, probe and steal over all the steps."""
    loads = [s.load_before for s in samples]
    probes = [s.probe_ms for s in samples]
    return {
        "load_before": f"{min(loads):.1f}-{max(loads):.1f} (1-minute load average before each step)",
        "cpu_probe": f"{min(probes):.0f}-{max(probes):.0f} ms (bench.measure.cpu_probe before each step: "
        "the same work each time, lower is faster)",
        "steal": f"{sum(s.steal_seconds for s in samples):.1f} s over all the steps, at most "
        f"{max(s.steal_seconds for s in samples):.1f} s in one (CPU time the host gave to other guests)",
    }


def conditions_line(m: Measurement) -> str:
    return f"load {m.load_before:.1f}, probe {m.probe_ms:.0f} ms, steal {m.steal_seconds:.1f} s"


def make_tools(root: Path, names: list[str], refs: list[str]) -> list[Tool]:
    work = root / ".bench" / "work" / "incremental"
    tools: list[Tool] = []
    for name in names:
        binary = find_binary(name, root)
        if binary is None:
            raise SystemExit(f"{name} is not installed (hack/bench-tools.sh {name}, or make venv)")
        if name in ("drkit", "drkit-raw", "drkit-zstd3"):
            for ref in refs or ["HEAD"]:
                source, commit = export_drkit(root, ref)
                label = f"{name}@{commit[:9]}" if len(refs) > 1 else name
                tool = TOOL_CLASSES[name](label, binary, work / label)
                assert isinstance(tool, Drkit)
                tool.source, tool.commit = source, commit
                tools.append(tool)
        else:
            tools.append(TOOL_CLASSES[name](name, binary, work / name))
    return tools


def summarise(samples: list[Sample], tools: list[Tool]) -> list[dict[str, object]]:
    base = [s.seconds for s in samples if s.tool == "kopia" and s.ok]
    base_median = statistics.median(base) if base else None
    rows: list[dict[str, object]] = []
    for t in tools:
        mine = [s for s in samples if s.tool == t.name and s.ok]
        if not mine:
            rows.append({"tool": t.name, "ok": False})
            continue
        wall = statistics.median(s.seconds for s in mine)
        rows.append(
            {
                "tool": t.name,
                "ok": len(mine) == len([s for s in samples if s.tool == t.name]),
                "wall_median": wall,
                "ratio_to_kopia": wall / base_median if base_median else None,
                "cpu_median": statistics.median(s.cpu_seconds for s in mine),
                "sync_median": statistics.median(s.sync_seconds for s in mine),
                "rss_max_mib": max(s.max_rss_kib for s in mine) / 1024,
                "walls": [round(s.seconds, 2) for s in mine],
            }
        )
    return rows


def to_markdown(meta: dict[str, object], rows: list[dict[str, object]]) -> str:
    lines = [f"# drkit bench: repeated incrementals, {meta['started']}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "started"]
    lines += [
        "",
        "| tool | wall, median | ratio to kopia | CPU, median | then `sync`, median | peak RSS (largest) "
        "| every round's wall, s |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if not r.get("wall_median"):
            lines.append(f"| {r['tool']} | FAILED | | | | | |")
            continue
        ratio = r["ratio_to_kopia"]
        lines.append(
            f"| {r['tool']} | {r['wall_median']:.2f} s | {f'{ratio:.2f}x' if ratio else '-'} | "
            f"{r['cpu_median']:.2f} s | {r['sync_median']:.2f} s | {r['rss_max_mib']:.0f} MiB | "
            + " / ".join(f"{w:.1f}" for w in r["walls"])  # type: ignore[attr-defined]
            + (" |" if r["ok"] else " (some rounds failed) |")
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.incremental", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tools", default="drkit,kopia")
    parser.add_argument("--drkit-ref", action="append", default=[], help="a drkit commit (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        gnu_time()
    except NoGnuTime as e:
        print(e, file=sys.stderr)
        return 2
    root: Path = args.root.resolve()
    bench_dir = root / ".bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    with (bench_dir / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another bench run holds {lock.name}", file=sys.stderr)
            return 2
        return _run(root, args)


def _run(root: Path, args: argparse.Namespace) -> int:
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = root / ".bench" / "data" / f"source-{args.scale:g}"
    logs = root / ".bench" / "logs" / "incremental"
    tools = make_tools(root, [t.strip() for t in args.tools.split(",") if t.strip()], args.drkit_ref)
    files = dataset.ensure_source(source, args.scale)
    meta: dict[str, object] = {
        "started": started,
        "command": shlex.join(["python", "-m", "bench.incremental", *sys.argv[1:]]),
        "machine": machine(),
        "dataset": f"source tree at scale {args.scale:g}: {files} files",
        "versions": "; ".join(f"{t.name}: {t.version()}" for t in tools),
    }
    for t in tools:
        t.prepare()
        for cmd in (t.init(), t.backup(source, "first")):
            if not run(cmd, logs / f"{t.name}.log").ok:
                print(f"{t.name}: setup failed, see {logs / (t.name + '.log')}", file=sys.stderr)
                return 1
    samples: list[Sample] = []
    try:
        for i in range(args.rounds):
            order = tools[i % len(tools) :] + tools[: i % len(tools)]
            dataset.ensure_source(source, args.scale)  # undo the last change
            for t in order:  # labels unique per round: borg refuses an archive name twice
                run(t.backup(source, f"parent-{i}"), logs / f"{t.name}.log")
            changed = dataset.mutate_source(source)
            for t in order:
                dataset.warm(source)
                dataset.settle()  # no earlier step's writes left to land in this one
                m: Measurement = run(t.backup(source, f"incremental-{i}"), logs / f"{t.name}.log")
                synced = dataset.settle()
                samples.append(sample(t.name, i, m, synced))
                print(
                    f"round {i + 1}: {t.name} {m.seconds:.2f} s (cpu {m.cpu_seconds:.2f} s, "
                    f"{m.max_rss_kib // 1024} MiB, {conditions_line(m)}, {changed} files changed)"
                )
    finally:
        dataset.ensure_source(source, args.scale)
    meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta.update(conditions(samples))
    rows = summarise(samples, tools)
    out = root / ".bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "incremental-" + started.replace(":", "")
    md = to_markdown(meta, rows)
    (out / f"{stem}.md").write_text(md)
    body = {"meta": meta, "summary": rows, "samples": [asdict(s) for s in samples]}
    (out / f"{stem}.json").write_text(json.dumps(body, indent=2))
    print(md)
    print(f"results: {out / stem}.md and .json")
    return 0 if all(s.ok for s in samples) else 1


if __name__ == "__main__":
    sys.exit(main())
