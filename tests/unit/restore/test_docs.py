"""docs/restore-plans.md documents every field of the plan format and no made-up one; its examples are
the files in restore-plans/; its phase table is the planner's."""

from __future__ import annotations

import re
from pathlib import Path

from drkit.config.restoreplan import SCHEMA
from drkit.restore.model import PHASE_NAMES

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "restore-plans.md"
_HEADING = re.compile(r"^### (?:`([^`]+)`|Document)\s*$")
_ROW = re.compile(r"^\| `([A-Za-z0-9.]+)` \|")
SHARED = ("spec.repository", "spec.repository.s3")  # the schedule's, documented in docs/schedules.md


def documented_fields() -> set[str]:
    fields: set[str] = set()
    section: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(1) or ""
            continue
        if line.startswith("## "):
            section = None
        row = _ROW.match(line)
        if row and section is not None:
            fields.add(f"{section}.{row.group(1)}" if section else row.group(1))
    return fields


def schema_fields() -> set[str]:
    return {
        f"{path}.{key}" if path else key
        for path, keys in SCHEMA.items()
        if path not in SHARED
        for key in keys
    }


def test_every_field_is_documented() -> None:
    documented = documented_fields()
    headings = {path for path in SCHEMA if path}  # a mapping is documented by its fields' rows
    missing = sorted(f for f in schema_fields() if f not in documented and f not in headings)
    assert missing == []


def test_no_documented_field_is_made_up() -> None:
    assert sorted(documented_fields() - schema_fields()) == []
    assert len(documented_fields()) > 30


def test_the_examples_in_the_doc_are_the_files() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    examples = sorted((ROOT / "restore-plans").glob("example-*.yaml"))
    assert len(examples) >= 2
    for path in examples:
        assert path.read_text(encoding="utf-8") in blocks, f"{path.name} differs from its copy in {DOC.name}"


def test_the_phase_table_is_the_planners() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) `([a-z]+)` \|", text, flags=re.MULTILINE)
    assert [(int(n), name) for n, name in rows] == sorted(PHASE_NAMES.items())
