"""The status page in a real browser: Debian's Chromium, headless, driven by Selenium through the
system chromedriver (nothing downloaded). The page is served by the daemon's own StatusServer on
loopback, rendered from a local repository (tests/unit/daemon/statusrepo.py) at a chosen "now".

Checked: no console error and no request other than the page itself; the RPO turns amber, then red,
as the last success ages past its target; a drill recorded as failed shows in red; a snapshot's
detail lists its resources by type and namespace. Screenshots go to $DRKIT_STATUS_SCREENSHOTS when
set (docs/status-page.md), else to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from drkit.config.schedule import load_schedules
from drkit.daemon.statuspage import collect, render
from drkit.daemon.statusserver import StatusServer
from tests.infra.plugin import missing
from tests.unit.daemon.statusrepo import START, Built, build, drill

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
RED = "rgba(255, 217, 214, 1)"
AMBER = "rgba(255, 240, 194, 1)"
GREEN = "rgba(215, 245, 221, 1)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing("chromium and chromium-driver", "run `make testbin` (hack/system-deps.sh installs them)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1200,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


class Site:
    """The page of ``built`` as the daemon serves it, at the moment ``now``."""

    def __init__(self, built: Built) -> None:
        self.built = built
        self.now = START + timedelta(days=2, hours=4)
        self.server = StatusServer("127.0.0.1:0", self.page, cache_s=0)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.port}/"

    def page(self) -> str:
        schedules = load_schedules(self.built.schedules)
        return render(collect([(self.built.url, self.built.repo)], schedules, now=self.now))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(build(tmp_path, with_drill=False))
    yield s
    s.server.stop()


def _screens(tmp_path: Path) -> Path:
    return Path(os.environ.get("DRKIT_STATUS_SCREENSHOTS") or tmp_path)


def _load(driver: Any, url: str) -> list[str]:
    """Open ``url``; return every URL the browser requested (from the performance log)."""
    driver.get_log("performance")  # drop earlier entries
    driver.get_log("browser")
    driver.get(url)
    requested = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    return requested


def _console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def _rpo_badge(driver: Any) -> tuple[str, str, str]:
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.ID, "schedule-nightly")
    badge = row.find_element(By.CSS_SELECTOR, "td .state")
    return row.get_attribute("data-rpo"), badge.text, badge.value_of_css_property("background-color")


def test_the_page_loads_alone_and_rpo_turns_amber_then_red(browser: Any, site: Site, tmp_path: Path) -> None:
    requested = _load(browser, site.url)
    assert browser.title == "drkit status"
    assert requested == [site.url], "the page requests nothing but itself"
    assert _console_errors(browser) == []
    assert _rpo_badge(browser) == ("green", "GREEN", GREEN)
    assert "prod.example" in browser.find_element("css selector", "h2").text
    screens = _screens(tmp_path)
    browser.save_screenshot(str(screens / "status-page.png"))

    site.now = START + timedelta(days=2, hours=30)  # 30 h after the last nightly backup: late
    _load(browser, site.url)
    state, text, colour = _rpo_badge(browser)
    assert (state, text, colour) == ("amber", "AMBER", AMBER)
    row = browser.find_element("id", "schedule-nightly").text
    assert "late: 30.0h old, target 24.0h" in row

    site.now = START + timedelta(days=2, hours=49)  # beyond twice the target: missed
    _load(browser, site.url)
    assert _rpo_badge(browser) == ("red", "RED", RED)
    assert "missed: 2.0d old" in browser.find_element("id", "schedule-nightly").text
    assert _console_errors(browser) == []


def test_a_failed_drill_shows_in_red_once_recorded(browser: Any, site: Site, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    _load(browser, site.url)
    cell = browser.find_element(By.CSS_SELECTOR, "#schedule-nightly td.drill")
    assert cell.get_attribute("data-drill") == "none"
    assert cell.text == "no drill recorded"

    drill(site.built, START + timedelta(days=2, hours=3), site.built.backups[-2], ok=False)
    _load(browser, site.url)
    cell = browser.find_element(By.CSS_SELECTOR, "#schedule-nightly td.drill")
    assert cell.get_attribute("data-drill") == "failed"
    badge = cell.find_element(By.CSS_SELECTOR, ".state")
    assert (badge.text, badge.value_of_css_property("background-color")) == ("FAILED", RED)
    assert "web answers 200" in cell.text
    assert "RTO 96s" in cell.text
    # and on the snapshot it restored
    newest = site.built.backups[-2].id[:8]
    mark = browser.find_element(By.CSS_SELECTOR, f"#snap-{newest} td .state")
    assert (mark.text, mark.value_of_css_property("background-color")) == ("FAILED", RED)
    assert _console_errors(browser) == []
    browser.save_screenshot(str(_screens(tmp_path) / "status-page-failed-drill.png"))


def test_a_snapshot_detail_lists_its_resources(browser: Any, site: Site, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    _load(browser, site.url)
    newest = site.built.backups[-2]  # prod's newest: shop 5, billing 2 config maps
    row = browser.find_element(By.ID, f"snap-{newest.id[:8]}")
    types = row.find_element(By.CSS_SELECTOR, "table.types")
    assert not types.is_displayed()  # folded until asked for
    row.find_element(By.TAG_NAME, "summary").click()
    assert types.is_displayed()

    def table(css: str) -> dict[str, str]:
        cells = row.find_elements(By.CSS_SELECTOR, f"{css} tbody tr")
        return {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text for r in cells}

    assert table("table.types") == {"configmaps": "7", "deployments.apps": "2"}
    assert table("table.namespaces") == {"shop": "5", "billing": "2"}
    browser.execute_script("arguments[0].scrollIntoView()", row)
    browser.save_screenshot(str(_screens(tmp_path) / "status-page-snapshot.png"))
    assert _console_errors(browser) == []
