"""docs/schedules.md documents every field of the format, and no field that does not exist; its
examples are the files in schedules/."""

from __future__ import annotations

import re
from pathlib import Path

from drkit.config.schedule import SCHEMA

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "schedules.md"
_HEADING = re.compile(r"^### (?:`([^`]+)`|Document)\s*$")
_ROW = re.compile(r"^\| `([A-Za-z0-9.]+)` \|")


def documented_fields() -> set[str]:
    """Full dotted paths of the table rows, each under its ``### `section` `` heading."""
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
    """Every key of the format; a mapping counts as documented by its own heading."""
    return {f"{path}.{key}" if path else key for path, keys in SCHEMA.items() for key in keys}


def test_every_field_is_documented() -> None:
    documented = documented_fields()
    headings = {path for path in SCHEMA if path}
    missing = sorted(f for f in schema_fields() if f not in documented and f not in headings)
    assert missing == []


def test_no_documented_field_is_made_up() -> None:
    made_up = sorted(documented_fields() - schema_fields())
    assert made_up == []
    assert len(documented_fields()) > 40


def test_the_examples_in_the_doc_are_the_files() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    examples = sorted((ROOT / "schedules").glob("example-*.yaml"))
    assert examples
    for path in examples:
        assert path.read_text(encoding="utf-8") in blocks, f"{path.name} differs from its copy in {DOC.name}"
