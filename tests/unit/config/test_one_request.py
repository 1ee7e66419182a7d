"""One request model, two front ends: the options of ``drkit backup run`` and a schedule's ``spec`` fill
the same :class:`CaptureSettings`; the volume options of ``drkit restore plan|run`` and a plan's
``spec.volumes`` the same :class:`VolumeRestoreSettings`. These tests enumerate both sides, so an option
cannot be added to one of them only."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import timedelta
from pathlib import Path

import click
import pytest

from drkit.capture.request import volume_options
from drkit.cli.backup import CAPTURE_FLAGS, backup_run, capture_settings
from drkit.cli.restore import VOLUME_FLAGS, _volume_args, restore_plan, restore_run
from drkit.config import restoreplan
from drkit.config.capture import capture_fields
from drkit.config.restoreplan import VOLUME_KEYS, VolumeRestoreSettings, load_restore_plan
from drkit.config.schedule import CAPTURE_KEYS, SCHEMA, load_schedule
from drkit.restore.volumes import fill_options

# Options of `backup run` that say where the snapshot goes or how the command reports, not what is
# captured: a schedule has its own fields for some (repository, tags) and the rest are the command's.
BACKUP_RUN_ONLY = {
    "schedule_file",  # the schedule itself
    "tags",  # spec.tags (and combinable with --schedule)
    "host",  # the name recorded in the snapshot (combinable with --schedule)
    "node_name",  # where drkit runs: $NODE_NAME, for the daemon too
    "write_only",
    "progress",
    "output",
}
RESTORE_ONLY = {"plan_file", "snapshot_ref", "kubeconfig", "context", "output", "node_name"}
RESTORE_RUN_ONLY = {"dry_run", "progress", "rebind_released"}

SCHEDULE = """\
apiVersion: drkit.io/v1
kind: Schedule
metadata:
  name: nightly
spec:
  cron: "0 2 * * *"
  repository:
    url: s3://bucket/prefix
"""


def params(command: click.Command) -> set[str]:
    return {p.name for p in command.params if p.name is not None}


def repository_options() -> set[str]:
    """The options ``repo_options`` adds (the repository: ``spec.repository`` of a schedule or plan)."""
    from drkit.cli.repoopts import repo_options

    @click.command()
    @repo_options(required=False)
    def command(repo: object) -> None:
        raise AssertionError(repo)

    return params(command)


def test_every_capture_field_has_a_flag_and_a_schedule_key() -> None:
    fields = set(capture_fields())
    assert "volumes.run_as_user" in fields
    assert sorted(CAPTURE_FLAGS.values()) == sorted(fields)  # one flag per field, none left out
    assert sorted(CAPTURE_KEYS) == sorted(fields)


def test_every_backup_run_option_is_a_capture_field_or_named_as_the_commands_own() -> None:
    options = params(backup_run) - repository_options()
    assert options - set(CAPTURE_FLAGS) == BACKUP_RUN_ONLY
    assert set(CAPTURE_FLAGS) <= options
    assert set(CAPTURE_FLAGS) == set(inspect.signature(capture_settings).parameters)


def test_every_capture_key_of_the_schedule_format_is_a_capture_field() -> None:
    keys = {
        f"{path}.{key}"
        for path, names in SCHEMA.items()
        if path in ("spec.kube", "spec.etcd", "spec.resources", "spec.volumes")
        for key in names
    }
    assert sorted(CAPTURE_KEYS.values()) == sorted(keys)


def test_every_restore_volume_field_has_a_flag_and_a_plan_key() -> None:
    fields = {f.name for f in dataclasses.fields(VolumeRestoreSettings)}
    assert sorted(VOLUME_FLAGS.values()) == sorted(fields)
    assert sorted(VOLUME_KEYS) == sorted(fields)
    assert sorted(VOLUME_KEYS.values()) == sorted(
        f"spec.volumes.{k}" for k in restoreplan.SCHEMA["spec.volumes"]
    )
    assert params(restore_plan) - repository_options() - set(VOLUME_FLAGS) == RESTORE_ONLY
    assert params(restore_run) - repository_options() - set(VOLUME_FLAGS) == RESTORE_ONLY | RESTORE_RUN_ONLY


def schedule_with(tmp_path: Path, volumes: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCHEDULE + "  volumes:\n" + volumes, encoding="utf-8")
    return path


def test_a_schedule_with_run_as_user_gives_the_mover_settings_of_the_flag(tmp_path: Path) -> None:
    """The daemon could not back up a volume that uid 65532 cannot read: the flag had no schedule field."""
    schedule = load_schedule(
        schedule_with(
            tmp_path,
            "    mode: all\n    mover: job\n    runAsUser: 1000\n    fsGroup: 2000\n    hooks: false\n"
            "    moverSecret: drkit-writer\n    timeout: 90m\n    parallel: 2\n",
        )
    )
    flags = capture_settings(
        volumes="all",
        volume_mover="job",
        mover_run_as_user=1000,
        mover_fs_group=2000,
        no_hooks=True,
        mover_secret="drkit-writer",
        volume_timeout="90m",
        volume_parallel=2,
    )
    assert schedule.capture == flags
    from_schedule = volume_options(schedule.volumes, file=str(schedule.source), node_name="n1")
    from_flags = volume_options(flags.volumes, node_name="n1")
    assert from_schedule is not None
    assert from_schedule == from_flags
    s = from_schedule.settings
    assert (s.run_as_user, s.run_as_group, s.fs_group, s.read_as_root) == (1000, 1000, 2000, False)
    assert (from_schedule.run_hooks, from_schedule.job_timeout_s, from_schedule.parallel) == (False, 5400, 2)


def test_a_schedule_with_read_as_root_gives_the_mover_settings_of_the_flag(tmp_path: Path) -> None:
    schedule = load_schedule(
        schedule_with(tmp_path, "    mode: app=db\n    mover: job\n    readAsRoot: true\n")
    )
    flags = capture_settings(volumes="app=db", volume_mover="job", mover_read_as_root=True)
    a = volume_options(schedule.volumes, node_name="n1")
    b = volume_options(flags.volumes, node_name="n1")
    assert a is not None
    assert a == b
    assert a.settings.read_as_root


def test_the_defaults_of_both_front_ends_are_one_request(tmp_path: Path) -> None:
    schedule = load_schedule(schedule_with(tmp_path, "    mode: all\n"))
    flags = capture_settings(volumes="all")
    assert volume_options(schedule.volumes, node_name="n") == volume_options(flags.volumes, node_name="n")
    assert schedule.capture.resources == flags.resources
    assert schedule.capture.kube == flags.kube


@pytest.mark.parametrize(
    ("volumes", "field", "message"),
    [
        ("    runAsUser: 0\n", "spec.volumes.runAsUser", "user 0 is root"),
        ("    runAsUser: -1\n", "spec.volumes.runAsUser", "expected an id from 0 to"),
        ("    fsGroup: x\n", "spec.volumes.fsGroup", "expected an id from 0 to"),
        ("    readAsRoot: 1\n", "spec.volumes.readAsRoot", "expected"),
        ("    hooks: no-thanks\n", "spec.volumes.hooks", "expected"),
        ("    parallel: 0\n", "spec.volumes.parallel", "expected a number from 1 to 32, got integer 0"),
        ("    parallel: 33\n", "spec.volumes.parallel", "expected a number from 1 to 32, got integer 33"),
        ("    parallel: true\n", "spec.volumes.parallel", "expected a number from 1 to 32"),
    ],
)
def test_bad_mover_user_fields_name_file_line_and_field(
    tmp_path: Path, volumes: str, field: str, message: str
) -> None:
    from drkit.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_schedule(schedule_with(tmp_path, volumes))
    assert caught.value.field == field
    assert caught.value.line == 10
    assert message in caught.value.message


def test_run_as_user_zero_with_read_as_root_is_root(tmp_path: Path) -> None:
    schedule = load_schedule(schedule_with(tmp_path, "    runAsUser: 0\n    readAsRoot: true\n"))
    assert (schedule.volumes.run_as_user, schedule.volumes.read_as_root) == (0, True)


def test_restore_flags_and_plan_volumes_give_the_same_fill_options(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata: {name: p}\nspec:\n"
        "  restore: {volumes: true}\n"
        "  volumes: {mover: job, moverSecret: s2, image: img:1, timeout: 2h, runAsUser: 1000, parallel: 2,"
        " pathMap: ['*=/srv']}\n",
        encoding="utf-8",
    )
    plan = load_restore_plan(path)
    bare = dataclasses.replace(plan, volumes=VolumeRestoreSettings())
    args = _volume_args(
        volume_mover="job",
        volume_path_map=("*=/srv",),
        mover_image="img:1",
        mover_secret="s2",
        volume_timeout="2h",
        node_name=None,
        mover_run_as_user=1000,
        volume_parallel=2,
    )
    assert fill_options(plan) == fill_options(bare, **args)
    assert plan.volumes.timeout == timedelta(hours=2)
    assert fill_options(plan).parallel == 2
    assert fill_options(plan, parallel=7).parallel == 7  # the command line overrides the plan
    assert fill_options(bare).parallel == 4


def test_the_fill_options_parallel_reaches_the_restore_job_filler(tmp_path: Path) -> None:
    from drkit.restore.volumes import make_filler

    options = dataclasses.replace(fill_options(load_restore_plan(_plan(tmp_path))), mover="job", parallel=3)
    filler = make_filler(options, repo=None, kube=None)  # type: ignore[arg-type]  # nothing is called
    assert filler.parallel == 3  # type: ignore[attr-defined]


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: drkit.io/v1\nkind: RestorePlan\nmetadata: {name: p}\n"
        "spec:\n  restore: {volumes: true}\n",
        encoding="utf-8",
    )
    return path


def test_the_new_volume_fields_survive_a_round_trip(tmp_path: Path) -> None:
    import yaml

    from drkit.config.schedule import to_document

    schedule = load_schedule(
        schedule_with(
            tmp_path,
            "    mode: all\n    runAsUser: 0\n    fsGroup: 7\n    readAsRoot: true\n    hooks: false\n"
            "    parallel: 8\n",
        )
    )
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(to_document(schedule)), encoding="utf-8")
    assert dataclasses.replace(load_schedule(again), source=schedule.source) == schedule
    assert to_document(schedule)["spec"]["volumes"] == {  # type: ignore[index]
        "mode": "all",
        "pathMap": [],
        "runAsUser": 0,
        "fsGroup": 7,
        "readAsRoot": True,
        "hooks": False,
        "parallel": 8,
    }
