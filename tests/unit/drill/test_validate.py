"""`drkit validate`: schedules and restore plans (drill checks included) checked offline; every shipped
example and every YAML block of the docs passes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from drkit.cli import main as cli_main
from drkit.drill.validate import validate_file

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted([*(ROOT / "schedules").glob("*.yaml"), *(ROOT / "restore-plans").glob("*.yaml")])
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FRAGMENT_KIND = {"restore-plans.md": "RestorePlan", "schedules.md": "Schedule"}
HEADER = {
    "RestorePlan": "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata:\n  name: fragment\nspec:\n",
    "Schedule": (
        "apiVersion: drkit.io/v1\nkind: Schedule\nmetadata:\n  name: fragment\nspec:\n"
        "  cron: '0 2 * * *'\n  repository:\n    url: /srv/backups\n"
    ),
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli_main.main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    assert isinstance(code, int)
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_schedules_and_plans_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert len(SHIPPED) >= 5
    code, out, err = run(["validate", *map(str, SHIPPED)], capsys)
    assert (code, err) == (0, "")
    assert out.count("ok ") == len(SHIPPED)
    assert "RestorePlan 'drill': 2 checks" in out


def doc_blocks() -> list[tuple[str, int, str]]:
    blocks = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"```yaml\n(.*?)```", text, flags=re.DOTALL):
            line = text[: match.start()].count("\n") + 2
            blocks.append((doc.name, line, match.group(1)))
    return blocks


@pytest.mark.parametrize(("doc", "line", "block"), doc_blocks(), ids=lambda v: str(v)[:20])
def test_every_yaml_block_of_the_docs_is_valid(doc: str, line: int, block: str, tmp_path: Path) -> None:
    data = yaml.safe_load(block)  # every block is YAML
    assert data, f"{doc}:{line}: an empty YAML block"
    kind = data.get("kind") if isinstance(data, dict) else None
    if block.startswith("  ") and doc in FRAGMENT_KIND:  # a part of spec: shown inside a whole document
        kind = FRAGMENT_KIND[doc]
        block = HEADER[kind] + block
    if kind in HEADER:
        result = validate_file(write(tmp_path, "block.yaml", block))
        assert result.ok, f"{doc}:{line}: {result.error}"
        assert result.kind == kind
    elif isinstance(data, dict) and "apiVersion" in data:  # a Kubernetes object: kind and name at least
        assert data.get("kind"), f"{doc}:{line}"
        assert data.get("metadata", {}).get("name"), f"{doc}:{line}"


def test_docs_have_plan_and_schedule_blocks() -> None:
    kinds = [b for _, _, b in doc_blocks() if re.search(r"^kind: (RestorePlan|Schedule)", b, re.MULTILINE)]
    assert len(kinds) >= 5


BAD_CHECK = """apiVersion: drkit.io/v1
kind: RestorePlan
metadata:
  name: shop
spec:
  checks:
    - available: {kind: Deployment, name: web, namespace: shop}
    - httpGet: {service: shop/web, path: /healthz}
"""


def test_a_bad_check_is_named_by_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", BAD_CHECK)
    good = SHIPPED[0]
    code, out, err = run(["validate", str(good), str(bad)], capsys)
    assert code == 2
    assert f"ok       {good}" in out
    assert f"invalid  {bad}" in out
    assert f"drkit: error: {bad}:8: spec.checks[1].httpGet: unknown field 'httpGet'" in err
    assert "1 of 2 files invalid" in err


def test_json_output_lists_each_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.yaml", BAD_CHECK)
    code, out, _ = run(["validate", "-o", "json", str(bad), str(SHIPPED[0])], capsys)
    assert code == 2
    rows = json.loads(out)
    assert [r["valid"] for r in rows] == [False, True]
    assert rows[0]["error"]["line"] == 8
    assert rows[0]["error"]["field"] == "spec.checks[1].httpGet"
    assert rows[0]["kind"] == "RestorePlan"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("apiVersion: drkit.io/v1\nkind: Backup\n", ":2: kind: expected 'Schedule' or 'RestorePlan'"),
        ("- a\n- b\n", ":1: expected a mapping"),
        ("apiVersion: drkit.io/v1\nkind: Schedule\nmetadata: {name: x}\nspec: {cron: nope}\n", ":4: spec"),
        ("a: [\n", ":"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, "f.yaml", text)
    result = validate_file(path)
    assert not result.ok
    assert str(result.error).startswith(f"{path}{where}")


def test_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2
    assert "no such file" in err
