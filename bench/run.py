"""One benchmark run: every tool through the same phases, on the same data, one after the other.

Phases on the mixed tree: first backup; the tree changes (1% of its bytes); incremental backup; restore
of that latest snapshot into an empty directory (checked against the source afterwards, untimed).
Then the first backup of the small-files tree into a new repository. Before every timed step the
source tree is read once, so that every tool starts from the same warm page cache.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dataset
from bench.measure import Measurement, du, run
from bench.report import Report, Result
from bench.tools import COMPRESSION, TOOL_CLASSES, Command, Drkit, Tool, export_drkit, find_binary

FIRST = "mixed: first backup"
INCREMENTAL = "mixed: incremental (1% changed)"
RESTORE = "mixed: restore"
SMALL = "small files: first backup"


@dataclass(frozen=True)
class Options:
    root: Path  # the checkout: .bench/ lives here
    scale: float
    tools: tuple[str, ...]
    require_all: bool
    command: str
    drkit_ref: str = "HEAD"  # a commit to export and run, or "worktree" for the checkout as it is
    rotation: int = 0  # run the tools in an order rotated by this much (spreads the bias of going first)

    @property
    def bench_dir(self) -> Path:
        return self.root / ".bench"


class MissingTools(Exception):
    """--require-all and some tool is not installed."""


def discover(opts: Options, say: Callable[[str], None]) -> tuple[dict[str, Path], dict[str, str]]:
    found: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for name in opts.tools:
        path = find_binary(name, opts.root)
        if path is None:
            hint = "make venv" if name == "drkit" else f"hack/bench-tools.sh {name}"
            skipped[name] = f"not installed (install with: {hint})"
            say(f"SKIP {name}: {skipped[name]}")
        else:
            found[name] = path
    if skipped and opts.require_all:
        raise MissingTools(", ".join(f"{t}: {why}" for t, why in skipped.items()))
    return found, skipped


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM"


class Bench:
    """One run: datasets, tools, and the report that the phases fill in."""

    def __init__(self, opts: Options, say: Callable[[str], None]) -> None:
        self.opts = opts
        self.say = say
        self.found, skipped = discover(opts, say)
        self.data = opts.bench_dir / "data"
        self.work = opts.bench_dir / "work"
        self.logs = opts.bench_dir / "logs"
        self.mixed = self.data / f"mixed-{opts.scale:g}"
        self.small = self.data / f"small-{opts.scale:g}"
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta: dict[str, Any] = {"started": started, "command": opts.command, "machine": machine()}
        self.report = Report(meta=meta, skipped=skipped)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def execute(self) -> Report:
        shutil.rmtree(self.logs, ignore_errors=True)
        specs = self.prepare_data()
        tools = self.start_tools("mixed")
        for tool in tools:
            self.step(FIRST, tool, tool.backup(self.mixed, "first"), self.mixed)
        changed = dataset.mutate(self.mixed, specs)
        self.report.meta["mutation"] = f"{changed / 2**20:.1f} MiB changed or added"
        for tool in tools:
            self.step(INCREMENTAL, tool, tool.backup(self.mixed, "incremental"), self.mixed)
        expected = dataset.tree_digest(self.mixed)
        for tool in tools:
            self.restore(tool, expected)
            shutil.rmtree(tool.work, ignore_errors=True)
        for tool in self.start_tools("small"):
            self.step(SMALL, tool, tool.backup(self.small, "small"), self.small)
            shutil.rmtree(tool.work, ignore_errors=True)
        dataset.ensure_mixed(self.mixed, self.opts.scale)  # undo the mutation for the next run
        self.report.meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.report

    def prepare_data(self) -> list[dataset.FileSpec]:
        self.say(f"datasets at scale {self.opts.scale:g} in {self.data} (generated once, then reused)")
        specs = dataset.ensure_mixed(self.mixed, self.opts.scale)
        dataset.ensure_small(self.small, self.opts.scale)
        mixed_files, mixed_bytes = dataset.tree_stats(self.mixed)
        small_files, small_bytes = dataset.tree_stats(self.small)
        meta = self.report.meta
        meta["scale"] = self.opts.scale
        meta["datasets"] = {
            "mixed": f"{mixed_files} files, {mixed_bytes / 2**20:.0f} MiB",
            "small": f"{small_files} files, {small_bytes / 2**20:.0f} MiB",
        }
        meta["page_cache"] = (
            "warm: each source tree is read once before every timed step (no drop_caches); repositories "
            "and restores are on the same disk as the data"
        )
        meta["versions"] = {}
        meta["compression"] = {name: COMPRESSION[name] for name in self.found}
        return specs

    def start_tools(self, dataset_name: str) -> list[Tool]:
        """Fresh work directories and initialised repositories; a tool whose init fails is skipped."""
        tools = []
        names = list(self.found)
        k = self.opts.rotation % max(1, len(names))
        for name in names[k:] + names[:k]:
            binary = self.found[name]
            if name in self.report.skipped:
                continue
            tool = TOOL_CLASSES[name](name, binary, self.work / dataset_name / name)
            if isinstance(tool, Drkit) and self.opts.drkit_ref != "worktree":
                tool.source, tool.commit = export_drkit(self.opts.root, self.opts.drkit_ref)
            self.report.meta["versions"].setdefault(name, tool.version())
            tool.prepare()
            if run(tool.init(), self.log(name)).ok:
                tools.append(tool)
            else:
                self.report.skipped[name] = f"repository init failed, see {self.log(name)}"
                self.say(f"SKIP {name}: {self.report.skipped[name]}")
        return tools

    def step(self, phase: str, tool: Tool, cmd: Command, source: Path) -> Measurement:
        dataset.warm(source)
        self.say(f"{phase}: {tool.name} ...")
        m = run(cmd, self.log(tool.name))
        note = "" if m.ok else f"exit {m.returncode}, see {self.log(tool.name)}"
        self.say(f"{phase}: {tool.name} {m.seconds:.1f} s, peak RSS {m.max_rss_kib // 1024} MiB {note}")
        self.report.results.append(
            Result(
                phase,
                tool.name,
                m.seconds,
                m.cpu_seconds,
                m.max_rss_kib,
                m.ok,
                du(tool.repo),
                m.load_before,
                note,
            )
        )
        return m

    def restore(self, tool: Tool, expected: str) -> None:
        """Restore the latest snapshot into an empty directory, then compare it with the source (untimed)."""
        target = self.work / "restore" / tool.name
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        m = self.step(RESTORE, tool, tool.restore(self.mixed, "incremental", target), self.mixed)
        if m.ok and dataset.tree_digest(tool.restored_root(self.mixed, target)) != expected:
            self.report.results[-1] = replace(self.report.results[-1], ok=False, note="restored tree differs")
            self.say(f"{RESTORE}: {tool.name}: the restored tree differs from the source")
        shutil.rmtree(target, ignore_errors=True)


def execute(opts: Options, say: Callable[[str], None] = print) -> Report:
    return Bench(opts, say).execute()
