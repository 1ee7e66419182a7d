"""Offline validation of drkit's files: schedules and restore plans, the plans' drill checks included.

    result = validate_file(Path("restore-plans/shop.yaml"))
    result.error      # None, or the first ConfigError (file, line, field, message, hint)

Nothing here opens a repository or talks to a cluster: what users run in their own CI for their plans
(``drkit validate``). The kind of file comes from its ``kind:`` (``Schedule`` or ``RestorePlan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drkit.config import restoreplan, schedule
from drkit.config.restoreplan import load_restore_plan
from drkit.config.schedule import load_schedule
from drkit.config.yamlsource import Node, load_yaml_file
from drkit.drill.service import plan_checks
from drkit.errors import ConfigError

KINDS = (schedule.KIND, restoreplan.KIND)


@dataclass(frozen=True)
class Validated:
    """The outcome for one file: its kind and name when known, what it holds, or the error."""

    file: str
    kind: str | None = None
    name: str | None = None
    detail: str = ""
    error: ConfigError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def validate_file(path: Path) -> Validated:
    """Load ``path`` as the kind its ``kind:`` names and validate everything loading checks."""
    file = str(path)
    try:
        kind = _kind(path)
    except ConfigError as exc:
        return Validated(file=file, error=exc)
    try:
        if kind == schedule.KIND:
            loaded = load_schedule(path)
            parts = [p for p in ("etcd" if loaded.etcd else "", "verify" if loaded.verify else "") if p]
            parts += ["drill"] if loaded.drill else []
            detail = f"cron {loaded.cron!r}" + (f", {', '.join(parts)}" if parts else "")
            return Validated(file=file, kind=kind, name=loaded.name, detail=detail)
        plan = load_restore_plan(path)
        checks = plan_checks(plan)
        return Validated(file=file, kind=kind, name=plan.name, detail=_count(len(checks), "check"))
    except ConfigError as exc:
        return Validated(file=file, kind=kind, error=exc)


def _kind(path: Path) -> str:
    root = load_yaml_file(path)
    entries = root.value if isinstance(root.value, dict) else None
    if entries is None:
        raise ConfigError(
            f"expected a mapping (a drkit document), got {root.kind}",
            file=str(path),
            line=root.line or None,
            hint="a schedule or restore plan is apiVersion, kind, metadata, spec",
        )
    node = entries.get("kind")
    if not isinstance(node, Node):
        raise ConfigError(
            "missing required field",
            file=str(path),
            line=root.line or None,
            field="kind",
            hint=f"write kind: {' or '.join(KINDS)}",
        )
    if node.value not in KINDS:
        raise ConfigError(
            f"expected {' or '.join(repr(k) for k in KINDS)}, got {node.value!r}",
            file=str(path),
            line=node.line,
            field="kind",
        )
    return str(node.value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
