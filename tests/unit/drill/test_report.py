"""Drill reports: JUnit XML parsed back, Markdown, HTML timeline, JSON; no Secret value anywhere."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drkit.drill.checks import CheckResult, Status, parse_checks
from drkit.drill.report import duration, html_page, junit_xml, markdown, to_json, write_reports
from drkit.drill.result import DrillResult, Phase, RestoreSummary

SPECS = parse_checks(
    [
        {"exists": {"kind": "Deployment", "name": "web", "namespace": "shop"}},
        {"configmapEquals": {"name": "settings", "namespace": "shop"}},
        {"httpProbe": {"namespace": "shop", "service": "web", "port": 80}},
    ],
    file="plan.yaml",
)


def result(*, failed: bool = True, error: str | None = None, restore_ok: bool = True) -> DrillResult:
    statuses = [Status.PASS, Status.FAIL if failed else Status.PASS, Status.SKIP]
    messages = ["exists", "differs: different values for keys ['mode'] <&>", "kwok: no endpoints"]
    checks = tuple(CheckResult(s, st, m, 1.5) for s, st, m in zip(SPECS, statuses, messages, strict=True))
    return DrillResult(
        id="1a2b3c4d",
        plan="shop",
        plan_file="restore-plans/shop.yaml",
        provider="local",
        snapshot_id="cd" * 32,
        snapshot_time=datetime(2026, 11, 26, 6, 0, tzinfo=UTC),
        started=datetime(2026, 11, 26, 7, 0, 5, tzinfo=UTC),
        finished=datetime(2026, 11, 26, 7, 1, 0, tzinfo=UTC),
        phases=(
            Phase("cluster-up", 0.0, 11.0),
            Phase("restore", 11.0, 3.0, restore_ok),
            Phase("ready", 14.0, 20.0),
            Phase("checks", 34.0, 4.5, not failed),
            Phase("teardown", 38.5, 1.0),
        ),
        checks=checks if error is None else (),
        restore=RestoreSummary({"create": 6}, 6, () if restore_ok else ("secrets/db in shop: 422",), 2),
        error=error,
    )


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.split("\n", 1)[1])  # noqa: S314 - our own output


def test_junit_has_a_case_per_gate_and_check_with_failures_and_skips() -> None:
    root = parse(junit_xml(result()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "1")
    assert suite.get("time") == "38.500"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [
        "local scratch cluster up",
        "restore snapshot cdcdcdcd",
        "exists Deployment shop/web",
        "configmapEquals shop/settings",
        "httpProbe shop/web:80/",
    ]
    failure = cases["configmapEquals shop/settings"].find("failure")
    assert failure is not None
    assert failure.get("message") == "differs: different values for keys ['mode'] <&>"
    assert failure.get("type") == "configmapEquals"
    skipped = cases["httpProbe shop/web:80/"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "kwok: no endpoints"
    assert {c.get("classname") for c in cases.values()} == {"drill.shop"}
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["rtoSeconds"] == "38.500"
    assert props["rpoSeconds"] == "3605.000"
    assert props["phase.ready.seconds"] == "20.000"


def test_junit_of_a_drill_stopped_by_its_restore() -> None:
    suite = parse(junit_xml(result(error="the restore failed for 1 object(s)", restore_ok=False)))
    cases = list(suite.iter("testcase"))
    assert [c.get("name") for c in cases] == ["local scratch cluster up", "restore snapshot cdcdcdcd"]
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.text == "secrets/db in shop: 422"


def test_markdown_names_the_verdict_rto_rpo_phases_and_failed_check() -> None:
    text = markdown(result())
    assert text.startswith("# DR drill 1a2b3c4d: FAILED\n")
    assert "**RTO: 38.5s**" in text
    assert "**RPO: 1h00m**" in text
    assert "| teardown (not in RTO) | +38.5s | 1.0s | yes |  |" in text
    assert "| FAIL | configmapEquals shop/settings | 1.5s |" in text
    assert "## Checks: 1 passed, 1 failed, 1 skipped" in text
    assert markdown(result(failed=False)).startswith("# DR drill 1a2b3c4d: PASSED\n")


def test_html_has_a_timeline_bar_per_phase_and_escapes_messages() -> None:
    page = html_page(result())
    assert page.count("<rect ") == 5
    assert "<title>ready: 20.0s" in page
    assert "&lt;&amp;&gt;" in page
    assert "<&>" not in page


def test_json_round_trips_and_write_reports_names_files_by_id(tmp_path: Path) -> None:
    data = json.loads(to_json(result()))
    assert data["ok"] is False
    assert data["failedChecks"] == ["configmapEquals shop/settings"]
    assert data["checks"][1]["where"] == "plan.yaml: checks[1]"
    assert data["rtoS"] == 38.5
    paths = write_reports(result(), tmp_path / "out")
    assert [p.name for p in paths] == [f"drill-1a2b3c4d{s}" for s in (".json", ".xml", ".md", ".html")]
    assert json.loads(paths[0].read_text()) == data


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0s"),
        (59.94, "59.9s"),
        (61, "1m01s"),
        (3600, "1h00m"),
        (47 * 3600, "47h00m"),
        (49 * 3600, "2d01h"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_the_etcd_providers_hashkv_proof_is_in_every_report() -> None:
    from dataclasses import replace

    proof = {
        "snapshotRevision": 812,
        "restoredRevision": 1812,
        "hashKVVerified": True,
        "verification": "HashKV 123456 at revision 812 equals the recorded one",
    }
    etcd = replace(result(failed=False), provider="etcd", cluster={"provider": "etcd", "etcd": proof})
    text = "HashKV verified: snapshot revision 812, restored at revision 1812"
    assert f"## etcd\n\n- {text}" in markdown(etcd)
    assert text in html_page(etcd)
    assert json.loads(to_json(etcd))["cluster"]["etcd"] == proof
    suite = parse(junit_xml(etcd)).find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["etcd.hashKVVerified"] == "true"
    assert props["etcd.snapshotRevision"] == "812"
    (case,) = [c for c in suite.iter("testcase") if c.get("name") == "etcd HashKV proof"]
    out = case.find("system-out")
    assert out is not None
    assert out.text is not None
    assert text in out.text
    unproven = replace(etcd, cluster={"etcd": {**proof, "hashKVVerified": False, "verification": "no etcd"}})
    (case,) = [c for c in parse(junit_xml(unproven)).iter("testcase") if c.get("name") == "etcd HashKV proof"]
    assert case.find("skipped") is not None
    assert "HashKV NOT verified" in markdown(unproven)
    assert "## etcd" not in markdown(result())  # other providers: no such section
