"""One benchmark run: every tool through the same phases, on the same data, one after the other.

Phases on the mixed tree: first backup; the tree changes (1% of its bytes); incremental backup; restore
of that latest snapshot into an empty directory (checked against the source afterwards, untimed).
Then the first backup of the small-files tree into a new repository. Then the real source tree (the
standard library and site-packages, ~60k files in ~10k directories): first backup; 1% of its files
change; incremental backup; restore (checked). Before every timed step the source tree is read once,
so that every tool starts from the same warm page cache.
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
from bench.setaside import SetAside
from bench.tools import COMPRESSION, TOOL_CLASSES, Command, Drkit, Tool, export_drkit, find_binary

FIRST = "mixed: first backup"
INCREMENTAL = "mixed: incremental (1% changed)"
RESTORE = "mixed: restore"
SMALL = "small files: first backup"
SOURCE_FIRST = "source tree: first backup"
SOURCE_INCREMENTAL = "source tree: incremental (1% of files changed)"
SOURCE_RESTORE = "source tree: restore"
DATASETS = ("mixed", "small", "source")


@dataclass(frozen=True)
class Options:
    root: Path  # the checkout: .bench/ lives here
    scale: float
    tools: tuple[str, ...]
    require_all: bool
    command: str
    drkit_ref: str = "HEAD"  # a commit to export and run, or "worktree" for the checkout as it is
    rotation: int = 0  # run the tools in an order rotated by this much (spreads the bias of going first)
    datasets: tuple[str, ...] = DATASETS

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

    def __init__(self, opts: Options, say: Callable[[str], None], aside: SetAside | None = None) -> None:
        self.opts = opts
        self.say = say
        # restored trees and work directories: nothing is deleted between a run's steps (setaside.py)
        self._own_aside = aside is None
        self.aside = aside or SetAside(opts.bench_dir / "work" / "set-aside")
        self.found, skipped = discover(opts, say)
        self.data = opts.bench_dir / "data"
        self.work = opts.bench_dir / "work"
        self.logs = opts.bench_dir / "logs"
        self.mixed = self.data / f"mixed-{opts.scale:g}"
        self.small = self.data / f"small-{opts.scale:g}"
        self.source = self.data / f"source-{opts.scale:g}"
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta: dict[str, Any] = {"started": started, "command": opts.command, "machine": machine()}
        self.report = Report(meta=meta, skipped=skipped)

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def execute(self) -> Report:
        shutil.rmtree(self.logs, ignore_errors=True)
        self.describe_run()
        if "mixed" in self.opts.datasets:
            self.run_mixed()
        if "small" in self.opts.datasets:
            self.run_small()
        if "source" in self.opts.datasets:
            self.run_source()
        self.report.meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.report.meta["deletions"] = (
            "none between a run's steps: restored trees and repositories are set aside and deleted between "
            "runs, then 6 minutes waited (ext4 passes over recently freed inodes: bench/setaside.py)"
            if not self.aside.deleted_at_once
            else f"{self.aside.deleted_at_once} trees deleted between steps for want of disk room: a restore "
            "after one may have paid for it (bench/setaside.py)"
        )
        if self._own_aside:
            self.aside.empty(settle=False)
        return self.report

    def describe_run(self) -> None:
        self.say(f"datasets at scale {self.opts.scale:g} in {self.data} (generated once, then reused)")
        meta = self.report.meta
        meta["scale"] = self.opts.scale
        meta["datasets"] = {}
        meta["page_cache"] = (
            "warm: each source tree is read once before every timed step (no drop_caches), then sync "
            "(no earlier step's writes land in it); repositories and restores are on the same disk as the "
            "data"
        )
        meta["peak_rss"] = "each tool's own (GNU time %M around the command), not the harness's"
        meta["versions"] = {}
        meta["compression"] = {name: COMPRESSION[name] for name in self.found}

    def _describe(self, name: str, root: Path) -> None:
        files, size = dataset.tree_stats(root)
        dirs = sum(len(d) for _p, d, _f in os.walk(root))
        self.report.meta["datasets"][name] = f"{files} files in {dirs} directories, {size / 2**20:.0f} MiB"

    def run_mixed(self) -> None:
        specs = dataset.ensure_mixed(self.mixed, self.opts.scale)
        self._describe("mixed", self.mixed)
        tools = self.start_tools("mixed")
        for tool in tools:
            self.step(FIRST, tool, tool.backup(self.mixed, "first"), self.mixed)
        changed = dataset.mutate(self.mixed, specs)
        self.report.meta["mutation"] = f"{changed / 2**20:.1f} MiB changed or added"
        for tool in tools:
            self.step(INCREMENTAL, tool, tool.backup(self.mixed, "incremental"), self.mixed)
        expected = dataset.tree_digest(self.mixed)
        for tool in tools:
            self.restore(RESTORE, tool, self.mixed, expected)
            self.aside.put(tool.work)
        dataset.ensure_mixed(self.mixed, self.opts.scale)  # undo the mutation for the next run

    def run_small(self) -> None:
        dataset.ensure_small(self.small, self.opts.scale)
        self._describe("small", self.small)
        for tool in self.start_tools("small"):
            self.step(SMALL, tool, tool.backup(self.small, "small"), self.small)
            self.aside.put(tool.work)

    def run_source(self) -> None:
        dataset.ensure_source(self.source, self.opts.scale)
        self._describe("source", self.source)
        tools = self.start_tools("source")
        try:
            for tool in tools:
                self.step(SOURCE_FIRST, tool, tool.backup(self.source, "first"), self.source)
            changed = dataset.mutate_source(self.source)
            self.report.meta["source_mutation"] = f"{changed} files changed (a line appended, a later mtime)"
            for tool in tools:
                self.step(SOURCE_INCREMENTAL, tool, tool.backup(self.source, "incremental"), self.source)
            expected = dataset.tree_digest(self.source)
            for tool in tools:
                self.restore(SOURCE_RESTORE, tool, self.source, expected)
                self.aside.put(tool.work)
        finally:
            dataset.ensure_source(self.source, self.opts.scale)  # undo the mutation for the next run

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
        dataset.settle()  # an earlier step's writes left in the page cache not written during this one
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
                probe_ms=m.probe_ms,
                steal_seconds=m.steal_seconds,
            )
        )
        return m

    def restore(self, phase: str, tool: Tool, source: Path, expected: str) -> None:
        """Restore the latest snapshot into an empty directory, then compare it with the source (untimed)."""
        target = self.work / "restore" / tool.name
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        m = self.step(phase, tool, tool.restore(source, "incremental", target), source)
        if m.ok and dataset.tree_digest(tool.restored_root(source, target)) != expected:
            self.report.results[-1] = replace(self.report.results[-1], ok=False, note="restored tree differs")
            self.say(f"{phase}: {tool.name}: the restored tree differs from the source")
        self.aside.put(target)


def execute(opts: Options, say: Callable[[str], None] = print, aside: SetAside | None = None) -> Report:
    return Bench(opts, say, aside).execute()
