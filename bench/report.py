"""Results of a run, and how they are reported: markdown tables (phase x tool) and JSON."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BASELINE = "kopia"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Result:
    phase: str  # e.g. "mixed: first backup"
    tool: str
    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    ok: bool
    repo_bytes: int = 0
    load_before: float = 0.0
    note: str = ""
    samples: tuple[float, ...] = ()  # wall times of every repetition (seconds is their median)
    probe_ms: float = 0.0  # measure.cpu_probe before the step (lower: a faster machine)
    steal_seconds: float = 0.0  # measure.host_steal over the step (CPU time the host gave to others)


@dataclass
class Report:
    meta: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # tool -> why

    @classmethod
    def combine(cls, reports: list[Report]) -> Report:
        """One report of several runs: median wall and CPU time, largest peak RSS, every sample kept."""
        first = reports[0]
        merged = cls(meta={**first.meta, "repetitions": len(reports)})
        merged.meta["finished"] = reports[-1].meta.get("finished")
        if "deletions" in reports[-1].meta:  # counted over every run so far
            merged.meta["deletions"] = reports[-1].meta["deletions"]
        for r in reports:
            merged.skipped.update(r.skipped)
        for phase in first.phases():
            for tool in first.tools():
                runs = [x for rep in reports if (x := rep.find(phase, tool)) is not None]
                if not runs:
                    continue
                walls = tuple(x.seconds for x in runs)
                merged.results.append(
                    Result(
                        phase,
                        tool,
                        statistics.median(walls),
                        statistics.median(x.cpu_seconds for x in runs),
                        max(x.max_rss_kib for x in runs),
                        all(x.ok for x in runs),
                        runs[-1].repo_bytes,
                        statistics.mean(x.load_before for x in runs),
                        "; ".join(dict.fromkeys(x.note for x in runs if x.note)),
                        walls,
                        statistics.mean(x.probe_ms for x in runs),
                        statistics.mean(x.steal_seconds for x in runs),
                    )
                )
        return merged

    def find(self, phase: str, tool: str) -> Result | None:
        return next((r for r in self.results if r.phase == phase and r.tool == tool), None)

    def phases(self) -> list[str]:
        return list(dict.fromkeys(r.phase for r in self.results))

    def tools(self) -> list[str]:
        return list(dict.fromkeys(r.tool for r in self.results))

    def ratio(self, r: Result) -> float | None:
        """Wall time relative to the baseline tool in the same phase (< 1: faster than kopia)."""
        base = self.find(r.phase, BASELINE)
        if base is None or not base.ok or not r.ok or base.seconds <= 0:
            return None
        return r.seconds / base.seconds

    def to_json(self) -> str:
        body = {
            "meta": self.meta,
            "skipped": self.skipped,
            "results": [{**asdict(r), "ratio_to_kopia": self.ratio(r)} for r in self.results],
        }
        return json.dumps(body, indent=2, sort_keys=False)

    def to_markdown(self) -> str:
        def wall(r: Result) -> str:
            if not r.ok:
                return f"FAILED ({r.note})" if r.note else "FAILED"
            ratio = self.ratio(r)
            return f"{r.seconds:.1f} s" + (f" ({ratio:.2f}x)" if ratio is not None else "")

        out = [
            "Wall time (ratio to kopia; below 1 is faster):",
            "",
            *self._pivot(wall),
            "",
            "Every run's wall time, s (the table above shows their median):",
            "",
            *self._pivot(
                lambda r: " / ".join(f"{x:.1f}" for x in r.samples) if r.samples else f"{r.seconds:.1f}"
            ),
            "",
            "Peak RSS, MiB (largest process of the tool's process tree):",
            "",
            *self._pivot(lambda r: f"{r.max_rss_kib / 1024:.0f}"),
            "",
            "CPU time, s (user + system, all threads):",
            "",
            *self._pivot(lambda r: f"{r.cpu_seconds:.1f}"),
            "",
            "Repository size after the step, MiB:",
            "",
            *self._pivot(lambda r: f"{r.repo_bytes / MIB:.0f}" if r.repo_bytes else "-"),
            "",
            "The machine around each step: CPU probe before it, ms (the same work each time; lower is "
            "faster) / steal during it, s (CPU time the host gave to other guests):",
            "",
            *self._pivot(lambda r: f"{r.probe_ms:.0f} / {r.steal_seconds:.1f}"),
        ]
        notes = [f"- {r.tool}, {r.phase}: {r.note}" for r in self.results if r.note and r.ok]
        if notes:
            out += ["", "Notes:", *notes]
        if self.skipped:
            out += ["", "Skipped:", *(f"- {t}: {why}" for t, why in self.skipped.items())]
        return "\n".join(out) + "\n"

    def _pivot(self, cell: Callable[[Result], str]) -> list[str]:
        tools = self.tools()
        rows = ["| phase | " + " | ".join(tools) + " |", "|---|" + "---:|" * len(tools)]
        for phase in self.phases():
            cells = []
            for tool in tools:
                r = self.find(phase, tool)
                cells.append(cell(r) if r else "-")
            rows.append(f"| {phase} | " + " | ".join(cells) + " |")
        return rows

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``stem.md`` and ``stem.json`` (and copies as ``latest.*``); returns the two paths."""
        directory.mkdir(parents=True, exist_ok=True)
        md = self.header() + "\n" + self.to_markdown()
        js = self.to_json()
        for name in (stem, "latest"):
            (directory / f"{name}.md").write_text(md)
            (directory / f"{name}.json").write_text(js)
        return directory / f"{stem}.md", directory / f"{stem}.json"

    def header(self) -> str:
        m = self.meta
        lines = [f"# drkit bench, {m.get('started', '?')}", ""]
        keys = (
            "command",
            "machine",
            "scale",
            "repetitions",
            "datasets",
            "mutation",
            "source_mutation",
            "peak_rss",
            "page_cache",
            "versions",
        )
        for key in (*keys, "compression"):
            if key in m:
                value = m[key]
                if isinstance(value, dict):
                    value = "; ".join(f"{k}: {v}" for k, v in value.items())
                lines.append(f"- {key}: {value}")
        return "\n".join(lines) + "\n"
