"""Drill reports: JSON (for machines), JUnit XML (for CI), Markdown (a summary), HTML (with a timeline).

    write_reports(result, Path("reports"))   # drill-<id>.json, .xml, .md, .html; returns the paths
    junit_xml(result)                         # one <testsuite>; a testcase per phase gate and per check

None of them carries a Secret's value: check messages name differing keys only, and restore
summaries never include object bodies.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from drkit.drill.checks import Status
from drkit.drill.result import PHASE_CLUSTER_UP, PHASE_RESTORE, RTO_PHASES, DrillResult

SUITE = "drkit-drill"


def duration(seconds: float) -> str:
    """``42.1s``, ``3m05s``, ``2h03m``, ``4d06h``."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{s:.1f}s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def to_json(result: DrillResult) -> str:
    return json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n"


def junit_xml(result: DrillResult) -> str:
    """JUnit XML: the gates (cluster up, restore) and every check are test cases; a failed check is
    a ``<failure>``, a skipped one ``<skipped>``; a drill stopped before its checks reports them as
    ``<error>``."""
    suite = ET.Element("testsuite", name=SUITE, timestamp=result.started.isoformat())
    cases: list[ET.Element] = []
    classname = f"drill.{result.plan}"

    def case(name: str, seconds: float) -> ET.Element:
        el = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
        cases.append(el)
        return el

    up = result.phase(PHASE_CLUSTER_UP)
    el = case(f"{result.provider} scratch cluster up", up.duration_s if up else 0.0)
    if up is None or not up.ok:
        ET.SubElement(el, "failure", message=up.message if up else "not started").text = result.error or ""
    proof = etcd_proof(result)
    if proof is not None:  # the etcd provider: the restored database proven equal to the snapshot
        el = case("etcd HashKV proof", 0.0)
        if proof["hashKVVerified"]:
            ET.SubElement(el, "system-out").text = proof_text(proof)
        else:
            ET.SubElement(el, "skipped", message=proof_text(proof))
    restore = result.phase(PHASE_RESTORE)
    if up is not None and up.ok:
        el = case(f"restore snapshot {result.snapshot_id[:8]}", restore.duration_s if restore else 0.0)
        if result.restore is None or not result.restore.ok:
            message = restore.message if restore else (result.error or "not run")
            failure = ET.SubElement(el, "failure", message=message)
            failure.text = "\n".join(result.restore.failures) if result.restore else (result.error or "")
    for check in result.checks:
        el = case(check.spec.name, check.duration_s)
        if check.status is Status.FAIL:
            ET.SubElement(el, "failure", message=check.message, type=check.spec.type).text = check.message
        elif check.status is Status.SKIP:
            ET.SubElement(el, "skipped", message=check.message)
        else:
            ET.SubElement(el, "system-out").text = check.message
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suite.set("time", f"{result.rto_s:.3f}")
    props = ET.Element("properties")
    for key, value in (
        ("snapshot", result.snapshot_id),
        ("snapshotTime", result.snapshot_time.isoformat()),
        ("provider", result.provider),
        ("rtoSeconds", f"{result.rto_s:.3f}"),
        ("rpoSeconds", f"{result.rpo_s:.3f}"),
        *((f"phase.{p.name}.seconds", f"{p.duration_s:.3f}") for p in result.phases),
        *_proof_properties(proof),
    ):
        ET.SubElement(props, "property", name=key, value=value)
    suite.insert(0, props)
    root = ET.Element("testsuites", name=SUITE, tests=suite.get("tests", "0"), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def etcd_proof(result: DrillResult) -> dict[str, Any] | None:
    """What the etcd provider proved about the restored database (``cluster.etcd``), if it ran."""
    proof = result.cluster.get("etcd") if isinstance(result.cluster, dict) else None
    return proof if isinstance(proof, dict) else None


def proof_text(proof: dict[str, Any]) -> str:
    verdict = "verified" if proof.get("hashKVVerified") else "NOT verified"
    return (
        f"HashKV {verdict}: snapshot revision {proof.get('snapshotRevision')}, restored at revision "
        f"{proof.get('restoredRevision')}; {proof.get('verification', '')}"
    ).rstrip("; ")


def _proof_properties(proof: dict[str, Any] | None) -> list[tuple[str, str]]:
    if proof is None:
        return []
    return [
        ("etcd.hashKVVerified", str(bool(proof.get("hashKVVerified"))).lower()),
        ("etcd.snapshotRevision", str(proof.get("snapshotRevision"))),
        ("etcd.restoredRevision", str(proof.get("restoredRevision"))),
        ("etcd.verification", str(proof.get("verification", ""))),
    ]


_ICON = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.SKIP: "SKIP"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result: DrillResult) -> str:
    verdict = "PASSED" if result.ok else "FAILED"
    lines = [
        f"# DR drill {result.id}: {verdict}",
        "",
        f"- plan: `{result.plan}` ({result.plan_file})",
        f"- provider: {result.provider}",
        f"- snapshot: `{result.snapshot_id[:12]}` taken {result.snapshot_time.isoformat()}",
        f"- started: {result.started.isoformat()}",
        f"- **RTO: {duration(result.rto_s)}** (cluster up + restore + ready + checks)",
        f"- **RPO: {duration(result.rpo_s)}** (age of the snapshot when the drill started)",
    ]
    if result.error:
        lines.append(f"- error: {result.error}")
    proof = etcd_proof(result)
    if proof is not None:
        lines += ["", "## etcd", "", f"- {_cell(proof_text(proof))}"]
    lines += ["", "## Phases", "", "| phase | start | duration | ok | note |", "|---|---|---|---|---|"]
    for p in result.phases:
        rto = "" if p.name in RTO_PHASES else " (not in RTO)"
        lines.append(
            f"| {p.name}{rto} | +{p.start_s:.1f}s | {duration(p.duration_s)} | {'yes' if p.ok else 'no'} "
            f"| {_cell(p.message)} |"
        )
    if result.restore is not None:
        r = result.restore
        lines += ["", "## Restore", "", f"{r.applied} objects applied, {r.waits} waits; counts: {r.counts}"]
        lines += [f"- failed: {_cell(f)}" for f in r.failures]
    counts = result.counts()
    lines += [
        "",
        f"## Checks: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped",
        "",
        "| result | check | time | message |",
        "|---|---|---|---|",
    ]
    for c in result.checks:
        lines.append(
            f"| {_ICON[c.status]} | {_cell(c.spec.name)} | {duration(c.duration_s)} | {_cell(c.message)} |"
        )
    return "\n".join(lines) + "\n"


_COLORS = {True: "#2e7d32", False: "#c62828"}


def html_page(result: DrillResult) -> str:
    """A self-contained page: the verdict, RTO/RPO, a timeline of the phases (SVG), and the checks."""
    total = max((p.start_s + p.duration_s for p in result.phases), default=0.0) or 1.0
    width, row, left = 760, 26, 120
    bars = []
    for i, p in enumerate(result.phases):
        x = left + (width - left - 10) * p.start_s / total
        w = max(2.0, (width - left - 10) * p.duration_s / total)
        y = 10 + i * row
        bars.append(
            f'<text x="4" y="{y + 15}">{html.escape(p.name)}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 8}" fill="{_COLORS[p.ok]}">'
            f"<title>{html.escape(p.name)}: {duration(p.duration_s)} {html.escape(p.message)}</title></rect>"
            f'<text x="{x + w + 4:.1f}" y="{y + 15}">{duration(p.duration_s)}</text>'
        )
    height = 20 + row * len(result.phases)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 60}" height="{height}" '
        f'font-family="sans-serif" font-size="12">{"".join(bars)}</svg>'
    )
    rows = "".join(
        f'<tr class="{c.status}"><td>{_ICON[c.status]}</td><td>{html.escape(c.spec.name)}</td>'
        f"<td>{duration(c.duration_s)}</td><td>{html.escape(c.message)}</td></tr>"
        for c in result.checks
    )
    verdict = "PASSED" if result.ok else "FAILED"
    error = f"<p><b>error:</b> {html.escape(result.error)}</p>" if result.error else ""
    proof = etcd_proof(result)
    if proof is not None:
        error += f"<h2>etcd</h2><p>{html.escape(proof_text(proof))}</p>"
    taken = html.escape(result.snapshot_time.isoformat())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>DR drill {html.escape(result.id)}: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em}} td{{padding:2px 8px;vertical-align:top}}
.fail td{{color:#c62828}} .skip td{{color:#777}} h1 span{{color:{_COLORS[result.ok]}}}</style></head>
<body><h1>DR drill {html.escape(result.id)}: <span>{verdict}</span></h1>
<p>plan <code>{html.escape(result.plan)}</code>, provider {html.escape(result.provider)},
snapshot <code>{html.escape(result.snapshot_id[:12])}</code> taken {taken}</p>
<p><b>RTO {duration(result.rto_s)}</b> (cluster up + restore + ready + checks) &middot;
<b>RPO {duration(result.rpo_s)}</b> (age of the snapshot)</p>{error}
<h2>Timeline</h2>{svg}
<h2>Checks</h2><table><tr><th></th><th>check</th><th>time</th><th>message</th></tr>{rows}</table>
</body></html>
"""


def write_reports(result: DrillResult, directory: Path, *, html_report: bool = True) -> list[Path]:
    """Write ``drill-<id>.json``, ``.xml`` (JUnit), ``.md`` and (optionally) ``.html`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"drill-{result.id}"
    outputs = {".json": to_json(result), ".xml": junit_xml(result), ".md": markdown(result)}
    if html_report:
        outputs[".html"] = html_page(result)
    paths = []
    for suffix, text in outputs.items():
        path = stem.with_suffix(suffix)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
