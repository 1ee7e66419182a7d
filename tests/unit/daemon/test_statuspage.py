"""The status page: RPO states against the target, drills, snapshot contents, clusters apart, no
external asset; `drkit report html`; the daemon's read-only server with its optional bearer token.
A local repository written through the repository's clock (tests/unit/daemon/statusrepo.py)."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from drkit.cli.main import cli
from drkit.config.schedule import load_schedules
from drkit.daemon.statuspage import StatusPage, collect, render, rpo_state
from drkit.daemon.statusserver import StatusServer
from drkit.secret import Secret
from tests.unit.daemon.statusrepo import START, Built, build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("status"))


def _page(built: Built, hours_after_last: float) -> StatusPage:
    now = START + timedelta(days=2, hours=hours_after_last)
    return collect([(built.url, built.repo)], load_schedules(built.schedules), now=now)


def _nightly(page: StatusPage) -> tuple[str, str]:
    status = next(s for c in page.clusters for s in c.schedules if s.name == "nightly")
    return status.state, status.state_text


def test_rpo_is_green_amber_red_against_the_cron_interval(built: Built) -> None:
    assert _nightly(_page(built, 4))[0] == "green"
    assert _nightly(_page(built, 26.4 + 0.016))[0] == "green"  # within 1.1 x 24h + 1 minute
    state, text = _nightly(_page(built, 30))
    assert (state, text) == ("amber", "late: 30.0h old, target 24.0h")
    state, text = _nightly(_page(built, 49))
    assert (state, text) == ("red", "missed: 2.0d old, target 24.0h")
    assert rpo_state(None, timedelta(hours=1), START) == ("red", "no successful backup")


def test_each_cluster_has_its_schedules_snapshots_and_plots(built: Built) -> None:
    page = _page(built, 4)
    names = [c.name for c in page.clusters]
    assert names == ["https://prod.example:6443 (prod)", "https://staging.example:6443 (staging)"]
    prod, staging = page.clusters
    assert [s.name for s in prod.schedules] == ["nightly"]
    assert [s.name for s in staging.schedules] == ["staging"]
    assert staging.schedules[0].target_source == "default (no schedule file)"
    assert {r.schedule for r in prod.snapshots if r.kind == "cluster"} == {"nightly"}
    assert {r.cluster for r in staging.snapshots} == {staging.name}
    # the failed drill restored prod's newest backup: on the schedule and on that snapshot, in red
    drill = prod.schedules[0].last_drill
    assert drill is not None
    assert (drill.ok, drill.failed_checks, drill.rto_s) == (False, ["web answers 200"], 95.5)
    newest = next(r for r in prod.snapshots if r.kind == "cluster")
    assert newest.drill == "failed"
    assert newest.namespaces == [("shop", 5), ("billing", 2)]
    assert ("configmaps", 7) in newest.types
    assert newest.lock_until is not None
    assert newest.lock_until >= newest.time + timedelta(days=14)  # rounded up by the lock
    assert len(prod.plots) == 3


def test_the_html_is_self_contained_and_says_states_in_words(built: Built) -> None:
    html = render(_page(built, 30))
    assert "<script" not in html
    links = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    external = [u for u in links if not u.startswith(("#", "data:"))]
    assert external == []
    assert "url(" not in html
    assert re.search(r'<tr id="schedule-nightly" data-rpo="amber">', html)
    assert ">AMBER</span> late: 30.0h old" in html
    assert 'data-drill="failed"' in html
    assert "FAILED</span>" in html
    assert html.count("<svg") == 3 * 2 + 2  # per cluster 3, repository 2
    assert '<th scope="col">Snapshot</th>' in html
    assert "<caption>By namespace</caption>" in html


def test_report_html_writes_the_page(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "status.html"
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "html",
            "--repo",
            built.url,
            "--password-file",
            str(built.password_file),
            "--schedules",
            str(built.schedules),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out.resolve())
    html = out.read_text()
    assert "Cluster https://prod.example:6443 (prod)" in html
    assert 'id="schedule-nightly" data-rpo="red"' in html  # its last success was three days ago
    assert built.password_file.read_text() not in html


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)  # noqa: S310 - loopback
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_server_is_read_only_and_asks_for_its_token() -> None:
    renders: list[int] = []

    def page() -> str:
        renders.append(1)
        return "<!DOCTYPE html><title>drkit status</title><p>ok</p>"

    server = StatusServer("127.0.0.1:0", page, token=Secret("s3cret-token"))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, headers, _ = _get(base + "/")
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer")
        assert _get(base + "/", "wrong")[0] == 401
        status, headers, body = _get(base + "/", "s3cret-token")
        assert (status, body) == (200, "<!DOCTYPE html><title>drkit status</title><p>ok</p>")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert _get(base + "/status.html", "s3cret-token")[0] == 200
        assert len(renders) == 1  # cached
        assert _get(base + "/metrics", "s3cret-token")[0] == 404
        post = urllib.request.Request(base + "/", data=b"x", method="POST")  # noqa: S310
        post.add_header("Authorization", "Bearer s3cret-token")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(post, timeout=10)  # noqa: S310
        assert err.value.code == 501  # no write action exists
    finally:
        server.stop()
