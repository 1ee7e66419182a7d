"""`drkit report html`: the daemon's status page, written offline (for CI artifacts)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click

from drkit.cli.daemon import DURATION
from drkit.cli.repoopts import RepoOptions, repo_options


@click.group()
def report() -> None:
    """Reports on a repository."""


@report.command("html")
@repo_options
@click.option(
    "--schedules",
    "schedules_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Schedule files: RPO targets (each cron's interval) and next run times.",
)
@click.option(
    "--state-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A daemon's state directory: its run records add verify and drill runs.",
)
@click.option(
    "--rpo-target",
    type=DURATION,
    default="24h",
    show_default=True,
    help="RPO target of schedules without a schedule file.",
)
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write the page here ('-': stdout).",
)
def report_html(
    repo: RepoOptions,
    schedules_dir: Path | None,
    state_dir: Path | None,
    rpo_target: float,
    output_path: Path,
) -> None:
    """Write the status page of a repository: per schedule the RPO against its target, the last
    verify and drill; plots; every snapshot and what is in it (docs/daemon.md, "Status page")."""
    from drkit.config.schedule import Schedule, load_schedules
    from drkit.daemon.records import RunLog
    from drkit.daemon.statuspage import collect, render

    if not repo.url:
        raise click.UsageError("give --repo (or DRKIT_REPO)")
    schedules = [s for s in load_schedules(schedules_dir) if isinstance(s, Schedule)] if schedules_dir else []
    runs = [r for r in RunLog(state_dir).records() if r["event"] == "finished"] if state_dir else []
    page = collect([(repo.url, repo.open())], schedules, runs=runs, rpo_target=timedelta(seconds=rpo_target))
    html = render(page)
    if str(output_path) == "-":
        sys.stdout.write(html)
        return
    tmp = output_path.with_name(f".{output_path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(output_path)
    click.echo(str(output_path.resolve()))
