"""Oversized and hostile configuration input: every file drkit reads, every number it takes.

The class of test issue 19 asks for: a YAML alias bomb, a file of many megabytes, a list of 200,000
entries, nesting deep enough to exhaust the stack, and numbers far outside any sane range are all
refused quickly, with a ConfigError (exit 2) naming the file and line (or the option), never an
internal error, a hang, or a value silently accepted. Each case runs against every loader: schedules,
restore plans and the bare YAML reader they share.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from drkit.config.durations import parse_duration
from drkit.config.restoreplan import load_restore_plan
from drkit.config.schedule import load_schedule
from drkit.config.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_yaml_file
from drkit.errors import ConfigError, ExitCode
from drkit.repo.engine.retention import Policy, policy_from_options

SCHEDULE = (
    "apiVersion: drkit.io/v1\nkind: Schedule\nmetadata:\n  name: test\nspec:\n"
    '  cron: "0 2 * * *"\n  repository:\n    url: s3://bucket/prefix\n'
)
PLAN = "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata:\n  name: p\nspec:\n  snapshot: latest\n"

LOADERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "schedule": (SCHEDULE, load_schedule),
    "restore plan": (PLAN, load_restore_plan),
    "yaml": (SCHEDULE, load_yaml_file),
}

BOMB = (
    "  tags: &a [x, x, x, x, x, x, x, x, x, x]\n"
    "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    "  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "  i: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
)

# (id, what goes at the end of the document (the first added line), line of the error, part of the message)
HOSTILE: list[tuple[str, Callable[[], str], int, str]] = [
    ("alias bomb", lambda: BOMB, 1, "YAML anchor &a is not allowed"),
    ("plain alias", lambda: "  x: [1]\n  y: *z\n", 2, "YAML alias *z is not allowed"),
    ("anchor alone", lambda: "  x: &keep 1\n", 1, "YAML anchor &keep is not allowed"),
    (
        "200k-entry list",
        lambda: "  tags: [" + ",".join(["t"] * 200_000) + "]\n",
        1,
        f"more than {MAX_NODES} values",
    ),
    ("deep nesting", lambda: "  tags: " + "[" * 5000 + "]" * 5000 + "\n", 1, f"more than {MAX_DEPTH} levels"),
    ("integer of 5000 digits", lambda: "  jitter: " + "9" * 5000 + "\n", 1, "invalid value"),
]


@pytest.mark.parametrize("loader", list(LOADERS), ids=list(LOADERS))
@pytest.mark.parametrize(("extra", "line", "message"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_yaml_is_refused_with_file_and_line(
    tmp_path: Path, loader: str, extra: Callable[[], str], line: int, message: str
) -> None:
    base, load = LOADERS[loader]
    first = base.count("\n") + 1
    path = tmp_path / "hostile.yaml"
    path.write_text(base + extra(), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert message in err.value.message
    assert err.value.exit_code is ExitCode.USAGE
    assert err.value.file == str(path)
    assert err.value.line == first + line - 1


@pytest.mark.parametrize("loader", list(LOADERS), ids=list(LOADERS))
def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path, loader: str) -> None:
    base, load = LOADERS[loader]
    path = tmp_path / "big.yaml"
    with path.open("w", encoding="utf-8") as handle:  # 33 MB of comments after a valid document
        handle.write(base)
        line = "# " + "x" * 1000 + "\n"
        for _ in range(33 * 1024):
            handle.write(line)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert f"larger than {MAX_FILE_BYTES // 1024} KiB" in err.value.message
    assert err.value.file == str(path)


def test_a_file_just_under_the_limits_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    tags = "".join(f"  - t{i}\n" for i in range(MAX_NODES // 2))
    path.write_text(SCHEDULE + "  tags:\n" + tags, encoding="utf-8")
    assert len(load_schedule(path).tags) == MAX_NODES // 2


# -- numbers out of range, in files ------------------------------------------------------------------

SCHEDULE_NUMBERS: list[tuple[str, str, int, str, str]] = [
    (
        "keep count 10**29",
        f"  retention:\n    keepDaily: {10**29}\n",
        10,
        "spec.retention.keepDaily",
        "at most",
    ),
    ("keep count 100001", "  retention:\n    keepLast: 100001\n", 10, "spec.retention.keepLast", "at most"),
    ("lock period 99999y", "  lock:\n    period: 99999y\n", 10, "spec.lock.period", "longer than 100y"),
    ("lock period 1s", "  lock:\n    period: 1s\n", 10, "spec.lock.period", "at least 1d"),
    ("jitter 1000y", "  jitter: 1000y\n", 9, "spec.jitter", "longer than 100y"),
    ("jitter of 4000 digits", "  jitter: " + "9" * 4000 + "\n", 9, "spec.jitter", "longer than 100y"),
    (
        "keepWithin 200y",
        "  retention:\n    keepWithin: 200y\n",
        10,
        "spec.retention.keepWithin",
        "longer than 100y",
    ),
    (
        "volume timeout 10**20s",
        f"  volumes:\n    timeout: {10**20}s\n",
        10,
        "spec.volumes.timeout",
        "longer than 100y",
    ),
]


@pytest.mark.parametrize(
    ("extra", "line", "field", "message"),
    [c[1:] for c in SCHEDULE_NUMBERS],
    ids=[c[0] for c in SCHEDULE_NUMBERS],
)
def test_schedule_numbers_out_of_range(
    tmp_path: Path, extra: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCHEDULE + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_schedule(path)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), line, field)
    assert message in err.value.message


PLAN_NUMBERS: list[tuple[str, str, int, str, str]] = [
    ("runAsUser 2**40", f"  volumes:\n    runAsUser: {2**40}\n", 8, "spec.volumes.runAsUser", "at most"),
    ("volume timeout 500y", "  volumes:\n    timeout: 500y\n", 8, "spec.volumes.timeout", "longer than 100y"),
    (
        "wait timeout 10**30",
        f"  waits:\n    timeouts:\n      Deployment: {10**30}\n",
        9,
        "spec.waits.timeouts.Deployment",
        "longer than 100y",
    ),
]


@pytest.mark.parametrize(
    ("extra", "line", "field", "message"), [c[1:] for c in PLAN_NUMBERS], ids=[c[0] for c in PLAN_NUMBERS]
)
def test_restore_plan_numbers_out_of_range(
    tmp_path: Path, extra: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PLAN + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_restore_plan(path)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), line, field)
    assert message in err.value.message


# -- numbers out of range, in options -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["99999y", "101y", "36501d", "9" * 13, "9" * 5000, f"{10**20}s"])
def test_durations_longer_than_100_years_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="longer than 100y"):
        parse_duration(text, "--retention")


def test_a_duration_of_100_years_is_the_longest() -> None:
    assert parse_duration("100y", "x").days == 36500
    assert parse_duration(36500 * 86400, "x").days == 36500


@pytest.mark.parametrize("value", [10**29, 100_001, "100001", "9" * 5000])
def test_keep_counts_are_bounded(value: int | str) -> None:
    with pytest.raises(ConfigError, match="at most 100000"):
        policy_from_options(keep_daily=value)
    if isinstance(value, int):
        with pytest.raises(ConfigError, match="at most 100000"):
            Policy(daily=value)


def test_the_largest_keep_count_and_unlimited_are_accepted() -> None:
    assert policy_from_options(keep_last=100_000, keep_daily="unlimited").last == 100_000
