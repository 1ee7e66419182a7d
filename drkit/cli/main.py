"""The ``drkit`` command: global options, the command groups, and the one error handler."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import NoReturn

import click

from drkit import __version__, deadline
from drkit.cli import logsetup
from drkit.deadline import DATA_FACTOR, DEFAULT_METADATA, MAX_SECONDS, MIN_SECONDS, Timeouts
from drkit.errors import DrkitError, ExitCode

log = logging.getLogger("drkit.cli")


# Each command's module, imported only when the command is looked up (a call, its --help, or the list
# in `drkit --help`): a command pays for its own imports only (the Kubernetes client and the drill and
# daemon machinery cost a `backup path` ~0.3 s of CPU at every start otherwise).
_COMMANDS: dict[str, tuple[str, ...]] = {
    "repo": ("drkit.cli.repo",),
    "backup": ("drkit.cli.backup",),
    "snapshots": ("drkit.cli.snapshots",),
    "snapshot": ("drkit.cli.snapshot",),
    "verify": ("drkit.cli.verify",),
    "prune": ("drkit.cli.prune",),
    "restore": ("drkit.cli.restore", "drkit.cli.restoreetcd"),  # the second attaches `restore etcd`
    "drill": ("drkit.cli.drill",),
    "sandbox": ("drkit.cli.sandbox",),
    "daemon": ("drkit.cli.daemon",),
    "mover": ("drkit.cli.mover",),
    "report": ("drkit.cli.report",),
    "audit": ("drkit.cli.auditlog",),
    "validate": ("drkit.cli.validate",),
    "schema": ("drkit.cli.schema",),
    "forget": ("drkit.cli.forget",),
}


class _LazyGroup(click.Group):
    """The top-level group: commands come from ``_COMMANDS``, each imported on first lookup."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)


def load_command(name: str) -> click.Command:
    """The top-level command ``name`` (its module, and those that attach to it, imported)."""
    modules = [importlib.import_module(module) for module in _COMMANDS[name]]  # the later ones attach
    command = getattr(modules[0], name)
    assert isinstance(command, click.Command)
    return command


@click.group(
    cls=_LazyGroup,
    context_settings={"auto_envvar_prefix": "DRKIT", "help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "--version", prog_name="drkit")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default=None,
    help="How much drkit logs (to stderr). Default: warning; info for `daemon`.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines for people (text) or machines (json).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(MIN_SECONDS, MAX_SECONDS),
    default=DEFAULT_METADATA,
    show_default=True,
    metavar="SECONDS",
    help="Deadline of each request to S3, the Kubernetes API or etcd, every retry included "
    f"(object bodies: {DATA_FACTOR:g}x). A server still silent after a quarter of it (at most 15 s) is "
    "reported as slow. Env: DRKIT_TIMEOUT.",
)
def cli(log_level: str | None, log_format: str, timeout: float) -> None:
    """drkit: encrypted, immutable, verified Kubernetes backups and rehearsed restores.

    Every option can also be set from the environment as DRKIT_<OPTION>, e.g. DRKIT_REPO.
    Exit codes are documented in docs/cli.md.
    """
    logsetup.configure(log_level, log_format)
    deadline.configure(Timeouts(metadata=timeout))


def _fail(message: str, code: int, hint: str | None = None) -> NoReturn:
    click.echo(f"drkit: error: {message}", err=True)
    if hint:
        click.echo(f"drkit: hint: {hint}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI and map every outcome to the exit-code contract."""
    try:
        cli.main(args=argv, prog_name="drkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail("interrupted", ExitCode.INTERRUPTED)
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        sys.exit(ExitCode.USAGE)
    except DrkitError as exc:
        log.debug("command failed", exc_info=True)
        _fail(str(exc), exc.exit_code, exc.hint)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        sys.exit(ExitCode.OK)
    except Exception as exc:
        log.debug("internal error", exc_info=True)
        _fail(
            f"internal error: {type(exc).__name__}: {exc}",
            ExitCode.INTERNAL,
            "this is a bug in drkit; run with --log-level debug for the traceback",
        )
    sys.exit(ExitCode.OK)
