"""The published JSON Schemas (docs/schemas/) are what the document models generate, and every
schedule and restore plan drkit ships (schedules/, restore-plans/, the YAML blocks of docs/) is valid
against them; so is every document the models accept, and a document the loaders refuse for its
shape is refused by the schema too."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from drkit.cli.main import cli
from drkit.config.schemas import DOCUMENTS, json_schema, json_schema_text

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_DIR = ROOT / "docs" / "schemas"
KINDS = {"Schedule": "schedule", "RestorePlan": "restore-plan"}


def plain(value: Any) -> Any:
    """YAML as JSON sees it: an unquoted timestamp is the string it was written as."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat().replace("+00:00", "Z")
    return value


def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def documents() -> list[tuple[str, Any]]:
    """Every full drkit document shipped: the files, and the YAML blocks of docs/*.md and README.md
    that are one (they have a drkit apiVersion and a kind)."""
    found: list[tuple[str, Any]] = []
    files = [*sorted((ROOT / "schedules").glob("*.y*ml")), *sorted((ROOT / "restore-plans").glob("*.y*ml"))]
    for path in files:
        found.append((str(path.relative_to(ROOT)), yaml.safe_load(path.read_text(encoding="utf-8"))))
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, block in enumerate(
            re.findall(r"```ya?ml\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
        ):
            try:
                data = yaml.safe_load(block)
            except yaml.YAMLError:
                continue
            if (
                isinstance(data, dict)
                and data.get("apiVersion") == "drkit.io/v1"
                and data.get("kind") in KINDS
            ):
                found.append((f"{doc.relative_to(ROOT)} block {i + 1}", data))
    return found


def fragments() -> list[tuple[str, str, Any]]:
    """The YAML blocks of docs/schedules.md and docs/restore-plans.md that show part of a ``spec``."""
    found = []
    for name in KINDS.values():
        doc = ROOT / "docs" / f"{name}s.md"
        for i, block in enumerate(
            re.findall(r"```yaml\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
        ):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and "apiVersion" not in data:
                found.append((f"{doc.relative_to(ROOT)} block {i + 1}", name, data))
    return found


def test_every_spec_fragment_in_the_docs_is_valid() -> None:
    found = fragments()
    assert found  # docs/restore-plans.md shows spec.volumes on its own
    problems = []
    for where, name, data in found:
        schema = json_schema(name)
        spec = dict(schema["$defs"]["Spec"], required=[])  # a fragment shows some keys only
        check = jsonschema.Draft202012Validator({**spec, "$defs": schema["$defs"]})
        problems += [f"{where}: {e.message}" for e in check.iter_errors(plain(data))]
    assert problems == []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_committed_schemas_are_the_generated_ones(name: str) -> None:
    committed = (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    assert committed == json_schema_text(name), (
        f"regenerate: drkit schema {name} > docs/schemas/{name}.schema.json"
    )


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_drkit_schema_prints_it(name: str) -> None:
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json_schema(name)


def test_every_shipped_document_is_valid_against_its_schema() -> None:
    found = documents()
    kinds = {data["kind"] for _, data in found}
    assert kinds == set(KINDS)
    assert len(found) >= 8
    validators = {name: validator(name) for name in KINDS.values()}
    problems = []
    for where, data in found:
        for error in validators[KINDS[data["kind"]]].iter_errors(plain(data)):
            problems.append(f"{where}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
    assert problems == []


BASE = {"cron": "@daily", "repository": {"url": "/r"}}
EXISTS = {"kind": "Pod", "name": "a"}


@pytest.mark.parametrize(
    ("kind", "spec", "path"),
    [
        ("schedule", {**BASE, "volume": {}}, ["spec"]),
        ("schedule", {**BASE, "volumes": {"runAsUser": "x"}}, ["spec", "volumes", "runAsUser"]),
        ("schedule", {**BASE, "retention": {"keepDaily": -1}}, ["spec", "retention", "keepDaily"]),
        ("restore-plan", {"checks": [{"exists": EXISTS, "count": {"kind": "Pod"}}]}, ["spec", "checks", 0]),
        ("restore-plan", {"checks": [{"exists": {"kind": "Pod"}}]}, ["spec", "checks", 0]),
        ("restore-plan", {"existingPolicy": "overwrite"}, ["spec", "existingPolicy"]),
    ],
)  # fmt: skip
def test_a_document_of_the_wrong_shape_is_invalid(kind: str, spec: dict[str, Any], path: list[Any]) -> None:
    doc = {
        "apiVersion": "drkit.io/v1",
        "kind": "Schedule" if kind == "schedule" else "RestorePlan",
        "metadata": {"name": "x"},
        "spec": spec,
    }
    errors = list(validator(kind).iter_errors(doc))
    assert errors
    paths = [list(e.absolute_path) for e in walk(errors)]
    assert path in paths, [e.message for e in errors]


def walk(errors: list[Any]) -> list[Any]:
    """The errors and, under each anyOf/oneOf, the errors of its branches."""
    return [x for e in errors for x in [e, *walk(list(e.context or []))]]


def test_what_daemon_check_prints_is_valid_against_the_schema(tmp_path: Path) -> None:
    """``to_document`` (``daemon --check``) writes every default out: still the published format."""
    from drkit.config.schedule import load_schedule, to_document

    check = validator("schedule")
    path = tmp_path / "full.yaml"
    docs = [to_document(load_schedule(p)) for p in sorted((ROOT / "schedules").glob("*.yaml"))]
    volumes = {
        "mode": "all",
        "mover": "job",
        "runAsUser": 1000,
        "fsGroup": 2000,
        "readAsRoot": True,
        "hooks": False,
    }
    with_volumes = {**docs[0], "spec": {**docs[0]["spec"], "volumes": volumes}}  # type: ignore[dict-item]
    path.write_text(yaml.safe_dump(with_volumes), encoding="utf-8")
    docs.append(to_document(load_schedule(path)))
    assert docs[-1]["spec"]["volumes"]["runAsUser"] == 1000  # type: ignore[index]
    for doc in docs:
        assert [e.message for e in check.iter_errors(plain(doc))] == []


SCHEDULE = {"cron": "@daily", "repository": {"url": "/r"}}

WORDS = [
    ("schedule", {**SCHEDULE, "lock": {"mode": "GOVERNANCE"}}, True),
    ("schedule", {**SCHEDULE, "lock": {"mode": " Compliance "}}, True),
    ("schedule", {**SCHEDULE, "volumes": {"mover": "Job"}}, True),
    ("schedule", {**SCHEDULE, "resources": {"includeClusterResources": "Auto"}}, True),
    ("schedule", {**SCHEDULE, "retention": {"keepDaily": "Unlimited"}}, True),
    ("restore-plan", {"existingPolicy": "Update"}, True),
    ("restore-plan", {"finishedJobs": "SUSPEND"}, True),
    ("restore-plan", {"volumes": {"mover": " job "}}, True),
    ("restore-plan", {"scope": {"includeClusterResources": "TRUE"}}, True),
    ("schedule", {**SCHEDULE, "lock": {"mode": "legal-hold"}}, False),
    ("schedule", {**SCHEDULE, "volumes": {"mover": "rsync"}}, False),
    ("schedule", {**SCHEDULE, "retention": {"keepDaily": "forever"}}, False),
    ("restore-plan", {"existingPolicy": "overwrite"}, False),
    ("restore-plan", {"finishedJobs": "rerun"}, False),
    ("restore-plan", {"scope": {"includeClusterResources": "some"}}, False),
]


@pytest.mark.parametrize(("kind", "spec", "valid"), WORDS)
def test_the_schema_and_the_loaders_agree_on_enumeration_words(
    tmp_path: Path, kind: str, spec: dict[str, Any], valid: bool
) -> None:
    """Words are read in any case and with blanks around them, by the loaders and by the schema
    (which still lists the lower-case words as an enum, for an editor's completion)."""
    from drkit.config.restoreplan import load_restore_plan
    from drkit.config.schedule import load_schedule
    from drkit.errors import ConfigError

    doc = {
        "apiVersion": "drkit.io/v1",
        "kind": "Schedule" if kind == "schedule" else "RestorePlan",
        "metadata": {"name": "x"},
        "spec": spec,
    }
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    load = load_schedule if kind == "schedule" else load_restore_plan
    try:
        load(path)
        loaded = True
    except ConfigError:
        loaded = False
    schema_valid = not list(validator(kind).iter_errors(doc))
    assert (loaded, schema_valid) == (valid, valid)


def test_the_schema_still_lists_the_words_for_completion() -> None:
    mode = json_schema("schedule")["$defs"]["Lock"]["properties"]["mode"]["anyOf"]
    assert {"enum": ["compliance", "governance"], "type": "string"} in mode
