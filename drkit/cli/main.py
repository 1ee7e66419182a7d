"""The ``drkit`` command: global options, the command groups, and the one error handler."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from drkit import __version__, deadline
from drkit.cli import logsetup
from drkit.deadline import DATA_FACTOR, DEFAULT_METADATA, MAX_SECONDS, MIN_SECONDS, Timeouts
from drkit.errors import DrkitError, ExitCode

log = logging.getLogger("drkit.cli")


@click.group(context_settings={"auto_envvar_prefix": "DRKIT", "help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from drkit.cli.audit import audit
    from drkit.cli.backup import backup
    from drkit.cli.daemon import daemon
    from drkit.cli.drill import drill
    from drkit.cli.forget import forget
    from drkit.cli.mover import mover
    from drkit.cli.prune import prune
    from drkit.cli.repo import repo
    from drkit.cli.report import report
    from drkit.cli.restore import restore
    from drkit.cli.restoreetcd import restore_etcd_command  # noqa: F401 - attaches `restore etcd`
    from drkit.cli.sandbox import sandbox
    from drkit.cli.schema import schema
    from drkit.cli.snapshot import snapshot
    from drkit.cli.snapshots import snapshots
    from drkit.cli.validate import validate
    from drkit.cli.verify import verify

    for command in (
        repo,
        backup,
        snapshots,
        snapshot,
        verify,
        prune,
        restore,
        drill,
        sandbox,
        daemon,
        mover,
        report,
    ):
        cli.add_command(command)
    cli.add_command(audit)
    cli.add_command(validate)
    cli.add_command(schema)
    cli.add_command(forget)


_register()


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
