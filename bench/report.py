"""Results of a run, and how they are reported: markdown tables (phase x tool) and JSON."""

from __future__ import annotations

import json
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


@dataclass
class Report:
    meta: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # tool -> why

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
        for key in ("command", "machine", "scale", "datasets", "page_cache", "versions", "compression"):
            if key in m:
                value = m[key]
                if isinstance(value, dict):
                    value = "; ".join(f"{k}: {v}" for k, v in value.items())
                lines.append(f"- {key}: {value}")
        return "\n".join(lines) + "\n"
