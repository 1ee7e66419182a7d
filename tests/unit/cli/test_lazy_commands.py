"""The top-level commands load on first use: `drkit backup path` does not pay for the Kubernetes client
or the drill and daemon machinery at every start (imports counted, not timed)."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from drkit.cli import main as cli_main


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(out.stdout.split())


def test_the_cli_module_imports_no_command() -> None:
    loaded = _modules_after("import drkit.cli.main")
    assert not {"kubernetes", "drkit.cli.backup", "drkit.cli.drill", "drkit.cli.daemon"} & loaded


def test_backup_loads_its_own_module_and_not_the_kubernetes_client() -> None:
    loaded = _modules_after("import drkit.cli.main as m\nm.load_command('backup')")
    assert "drkit.cli.backup" in loaded
    assert not {"kubernetes", "drkit.cli.drill", "drkit.cli.daemon", "drkit.cli.validate"} & loaded


def test_every_command_is_listed_and_loads_under_its_name() -> None:
    ctx = click.Context(cli_main.cli)
    names = cli_main.cli.list_commands(ctx)
    assert names == sorted(names)
    assert {"backup", "restore", "repo", "drill", "daemon", "schema", "forget"} <= set(names)
    for name in names:
        command = cli_main.cli.get_command(ctx, name)
        assert command is not None
        assert command.name == name
    restore = cli_main.cli.get_command(ctx, "restore")
    assert isinstance(restore, click.Group)
    assert "etcd" in restore.list_commands(ctx)  # attached by a second module
    assert cli_main.cli.get_command(ctx, "no-such-command") is None


def test_help_lists_every_command_and_an_unknown_one_is_a_usage_error() -> None:
    runner = CliRunner()
    result = runner.invoke(cli_main.cli, ["--help"])
    assert result.exit_code == 0
    for name in cli_main.cli.list_commands(click.Context(cli_main.cli)):
        assert f"\n  {name} " in result.output
    bad = runner.invoke(cli_main.cli, ["no-such-command"])
    assert bad.exit_code == 2
    assert "No such command" in bad.output
