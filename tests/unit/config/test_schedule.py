"""Loading valid schedules: defaults, paths, the examples in schedules/, round trips, next run times."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from drkit.config.schedule import (
    UNLIMITED,
    KubeSettings,
    LockSettings,
    ResourceSettings,
    RetentionSettings,
    VolumeSettings,
    cron_trigger,
    expand_cron,
    load_schedule,
    load_schedules,
    next_fire_times,
    next_runs,
    to_document,
)
from drkit.errors import ConfigError
from drkit.storage.base import LockMode

EXAMPLES = Path(__file__).resolve().parents[3] / "schedules"

MINIMAL = """\
apiVersion: drkit.io/v1
kind: Schedule
metadata:
  name: {name}
spec:
  cron: "0 2 * * *"
  repository:
    url: s3://bucket/prefix
"""


def write(directory: Path, filename: str, text: str) -> Path:
    path = directory / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_schedule_gets_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", MINIMAL.format(name="minimal"))
    s = load_schedule(path)
    assert s.name == "minimal"
    assert s.source == path
    assert s.cron == "0 2 * * *"
    assert s.timezone == "UTC"
    assert s.jitter == timedelta(0)
    assert s.repository.url == "s3://bucket/prefix"
    assert s.repository.password_file is None
    assert s.repository.s3_path_style is None
    assert s.kube == KubeSettings(None, None)
    assert s.etcd is None
    assert s.resources == ResourceSettings()
    assert s.resources.enabled is True
    assert s.resources.include_cluster_resources == "auto"
    assert s.volumes == VolumeSettings("none")
    assert s.tags == ()
    assert s.retention == RetentionSettings()
    assert s.retention.empty
    assert s.lock == LockSettings(None, None)
    assert s.verify is None
    assert s.drill is None


def test_null_optional_values_mean_not_given(tmp_path: Path) -> None:
    text = MINIMAL.format(name="nulls") + (
        "  timezone: ~\n  jitter: null\n  etcd: ~\n  kube:\n    context: ~\n  tags: ~\n"
        "  retention:\n    keepLast: ~\n  verify: ~\n  drill: ~\n"
    )
    s = load_schedule(write(tmp_path, "n.yaml", text))
    assert (s.timezone, s.jitter, s.etcd, s.kube.context, s.tags) == ("UTC", timedelta(0), None, None, ())
    assert s.retention.empty
    assert (s.verify, s.drill) == (None, None)


def test_relative_paths_resolve_against_the_files_directory(tmp_path: Path) -> None:
    text = (
        MINIMAL.format(name="paths").replace("url: s3://bucket/prefix", "url: ../repo")
        + "    passwordFile: secrets/pw\n    keyFile: /abs/key\n"
        + "  kube:\n    kubeconfig: kube/config\n"
        + "  etcd:\n    endpoints: [https://127.0.0.1:2379]\n    caFile: pki/ca.crt\n"
        + "    certFile: pki/c.crt\n    keyFile: pki/c.key\n"
        + "  drill:\n    cron: '0 5 1 * *'\n    plan: plans/drill.yaml\n"
    )
    directory = tmp_path / "conf" / "schedules"
    s = load_schedule(write(directory, "p.yaml", text))
    assert s.repository.url == str(directory / ".." / "repo")
    assert s.repository.password_file == directory / "secrets/pw"
    assert s.repository.key_file == Path("/abs/key")
    assert s.kube.kubeconfig == directory / "kube/config"
    assert s.etcd is not None
    assert (s.etcd.ca_file, s.etcd.cert_file, s.etcd.key_file) == (
        directory / "pki/ca.crt",
        directory / "pki/c.crt",
        directory / "pki/c.key",
    )
    assert s.drill is not None
    assert s.drill.plan == directory / "plans/drill.yaml"


def test_paths_are_not_required_to_exist(tmp_path: Path) -> None:
    text = MINIMAL.format(name="away") + (
        "    passwordFile: /nonexistent/pw\n    s3:\n      endpoint: https://minio:9000\n"
        "      caBundle: /nonexistent/ca.pem\n"
    )
    s = load_schedule(write(tmp_path, "a.yaml", text))
    assert s.repository.s3_ca_bundle == Path("/nonexistent/ca.pem")
    assert s.repository.s3_endpoint == "https://minio:9000"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7), ("0", 0), ("unlimited", UNLIMITED), ("all", UNLIMITED), ("Unlimited", UNLIMITED)],
)
def test_retention_counts(tmp_path: Path, value: str, expected: int) -> None:
    text = MINIMAL.format(name="r") + f"  retention:\n    keepDaily: {value}\n    keepWithin: 3600\n"
    s = load_schedule(write(tmp_path, "r.yaml", text))
    assert s.retention.keep_daily == expected
    assert s.retention.keep_within == "3600"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("auto", "auto"), ("true", "true"), ("false", "false"), ("'TRUE'", "true"), ("'false'", "false")],
)
def test_include_cluster_resources(tmp_path: Path, value: str, expected: str) -> None:
    text = MINIMAL.format(name="c") + f"  resources:\n    includeClusterResources: {value}\n"
    assert load_schedule(write(tmp_path, "c.yaml", text)).resources.include_cluster_resources == expected


@pytest.mark.parametrize(("value", "expected"), [("10", 10.0), ("2.5", 2.5), ("0", 0.0), ("'100%'", 100.0)])
def test_read_data_percent(tmp_path: Path, value: str, expected: float) -> None:
    text = MINIMAL.format(name="v") + f"  verify:\n    cron: '0 4 * * sun'\n    readDataPercent: {value}\n"
    s = load_schedule(write(tmp_path, "v.yaml", text))
    assert s.verify is not None
    assert s.verify.read_data_percent == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("all", "all"),
        ("None", "none"),
        ("' ALL '", "all"),
        ("'app=db,tier in (a,b)'", "app=db,tier in (a,b)"),
    ],
)
def test_volume_modes(tmp_path: Path, value: str, expected: str) -> None:
    text = MINIMAL.format(name="vol") + f"  volumes:\n    mode: {value}\n"
    assert load_schedule(write(tmp_path, "v.yaml", text)).volumes.mode == expected


def test_lock_modes_are_case_insensitive(tmp_path: Path) -> None:
    text = MINIMAL.format(name="l") + "  lock:\n    mode: GOVERNANCE\n    period: 1y\n"
    s = load_schedule(write(tmp_path, "l.yaml", text))
    assert s.lock == LockSettings(LockMode.GOVERNANCE, timedelta(days=365))


def test_cron_macros_and_whitespace_are_normalised(tmp_path: Path) -> None:
    text = MINIMAL.format(name="m").replace('"0 2 * * *"', "'@weekly'")
    text += "  verify:\n    cron: '  30   4 * *   sat '\n"
    s = load_schedule(write(tmp_path, "m.yaml", text))
    assert s.cron == "0 0 * * sun"
    assert s.verify is not None
    assert s.verify.cron == "30 4 * * sat"


# -- the examples in schedules/ -------------------------------------------------------------------


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml"))


def test_there_are_examples() -> None:
    assert len(example_files()) >= 2


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_loads_and_round_trips(tmp_path: Path, path: Path) -> None:
    schedule = load_schedule(path)
    document = to_document(schedule)
    copy = write(tmp_path, path.name, yaml.safe_dump(document, sort_keys=False))
    again = load_schedule(copy)
    assert again == dataclasses.replace(schedule, source=copy)
    assert to_document(again) == document


def test_examples_load_as_a_directory() -> None:
    schedules = load_schedules(EXAMPLES)
    assert [s.source.name for s in schedules] == [p.name for p in example_files()]
    assert len({s.name for s in schedules}) == len(schedules)


def test_nightly_example_values() -> None:
    s = load_schedule(EXAMPLES / "example-nightly.yaml")
    assert (s.name, s.cron, s.timezone, s.jitter) == (
        "nightly",
        "0 2 * * *",
        "Europe/Berlin",
        timedelta(minutes=5),
    )
    assert s.repository.url == "s3://cluster-backups/prod"
    assert s.repository.s3_path_style is True
    assert s.etcd is not None
    assert s.etcd.kubeadm
    assert len(s.etcd.endpoints) == 3
    assert s.resources.exclude_namespaces == ("kube-node-lease", "scratch-*")
    assert s.volumes.mode == "backup.drkit.io/volumes=true"
    assert s.retention.keep_yearly == UNLIMITED
    assert s.retention.keep_within == "2d"
    assert s.lock == LockSettings(LockMode.COMPLIANCE, timedelta(days=400))
    assert s.verify is not None
    assert s.verify.read_data_percent == 10.0
    assert s.drill is not None
    assert s.drill.plan == Path("/etc/drkit/drills/restore-prod.yaml")


def test_etcd_only_example_values() -> None:
    s = load_schedule(EXAMPLES / "example-etcd-only.yaml")
    assert s.resources.enabled is False
    assert s.etcd is not None
    assert s.etcd.kubeadm is False
    assert s.repository.url == "/var/backups/drkit/etcd"
    assert s.repository.key_file == Path("/etc/drkit/etcd-backup.key")


# -- directories ----------------------------------------------------------------------------------


def test_load_schedules_reads_yaml_and_yml_sorted_and_skips_the_rest(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", MINIMAL.format(name="bee"))
    write(tmp_path, "a.yaml", MINIMAL.format(name="ay"))
    write(tmp_path, ".hidden.yaml", "not: [valid")
    write(tmp_path, "notes.txt", "not yaml")
    write(tmp_path, "a.yaml.bak", "not: [valid")
    (tmp_path / "sub.yaml").mkdir()
    write(tmp_path / "nested", "c.yaml", MINIMAL.format(name="nested"))
    assert [s.name for s in load_schedules(tmp_path)] == ["ay", "bee"]


def test_load_schedules_of_an_empty_directory(tmp_path: Path) -> None:
    assert load_schedules(tmp_path) == []


def test_duplicate_names_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", MINIMAL.format(name="same"))
    second = write(tmp_path, "b.yaml", "# the same name again\n" + MINIMAL.format(name="same"))
    with pytest.raises(ConfigError) as info:
        load_schedules(tmp_path)
    error = info.value
    assert (error.file, error.line, error.field) == (str(second), 5, "metadata.name")
    assert str(first) in str(error)


def test_an_error_in_one_file_names_that_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", MINIMAL.format(name="good"))
    bad = write(tmp_path, "b.yaml", MINIMAL.format(name="bad") + "  jitter: soon\n")
    with pytest.raises(ConfigError) as info:
        load_schedules(tmp_path)
    assert (info.value.file, info.value.line, info.value.field) == (str(bad), 9, "spec.jitter")


def test_load_schedules_of_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such directory"):
        load_schedules(tmp_path / "absent")
    with pytest.raises(ConfigError, match="not a directory"):
        load_schedules(write(tmp_path, "f.yaml", MINIMAL.format(name="f")))


# -- next run times -------------------------------------------------------------------------------


def test_next_runs_in_the_schedules_time_zone(tmp_path: Path) -> None:
    text = MINIMAL.format(name="berlin") + "  timezone: Europe/Berlin\n"
    s = load_schedule(write(tmp_path, "b.yaml", text))
    runs = next_runs(s, 3, datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    # 02:00 in Berlin is 01:00 UTC in winter
    assert [r.astimezone(UTC) for r in runs] == [
        datetime(2026, 11, 27, 1, 0, tzinfo=UTC),
        datetime(2026, 11, 28, 1, 0, tzinfo=UTC),
        datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
    ]
    assert all(r.utcoffset() == timedelta(hours=1) for r in runs)


def test_next_runs_include_now_when_it_is_a_run_time() -> None:
    now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert next_fire_times("0 2 * * *", "UTC", 2, now) == [now, now + timedelta(days=1)]


def test_next_runs_with_weekday_names() -> None:
    # 2026-11-26 is a Thursday: "mon-fri" gives Thursday, Friday, then Monday
    runs = next_fire_times("0 9 * * mon-fri", "UTC", 3, datetime(2026, 11, 26, tzinfo=UTC))
    assert [r.strftime("%a %d") for r in runs] == ["Thu 26", "Fri 27", "Mon 30"]


def test_next_runs_across_the_autumn_clock_change_run_twice_in_the_repeated_hour() -> None:
    # APScheduler 3 fires a 02:30 job in both 02:30s of the night the clocks go back (documented)
    runs = next_fire_times("30 2 * * *", "Europe/Berlin", 3, datetime(2027, 10, 30, 12, 0, tzinfo=UTC))
    assert [r.astimezone(UTC) for r in runs] == [
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        datetime(2027, 10, 31, 1, 30, tzinfo=UTC),
        datetime(2027, 11, 1, 1, 30, tzinfo=UTC),
    ]


def test_next_runs_across_the_spring_clock_change_run_once() -> None:
    runs = next_fire_times("30 2 * * *", "Europe/Berlin", 2, datetime(2027, 3, 27, 12, 0, tzinfo=UTC))
    utc = [r.astimezone(UTC) for r in runs]
    assert utc[0] == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 does not exist; 03:30 CEST
    assert utc[1] == datetime(2027, 3, 29, 0, 30, tzinfo=UTC)


def test_next_runs_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times("0 2 * * *", "UTC", 1, datetime(2026, 11, 26))


def test_next_runs_count_zero() -> None:
    assert next_fire_times("0 2 * * *", "UTC", 0, datetime(2026, 11, 26, tzinfo=UTC)) == []


def test_cron_trigger_carries_jitter() -> None:
    trigger = cron_trigger("0 2 * * *", "UTC", timedelta(minutes=5))
    assert trigger.jitter == 300
    assert cron_trigger("0 2 * * *", "UTC").jitter is None


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 2 1-7 * *", "0 2 1-7 * *"),
        ("0 2 * * sun", "0 2 * * sun"),
        ("0 2 * 1 mon", "0 2 * 1 mon"),
    ],
)
def test_expand_cron(expr: str, expected: str) -> None:
    assert expand_cron(expr) == expected
