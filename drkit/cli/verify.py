"""`drkit verify`: check a repository's structure and, with --read-data, its data."""

from __future__ import annotations

import click

from drkit.cli.audit import audited, note
from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.progress import make_progress
from drkit.cli.render import LEFTOVERS_SHOWN, human_bytes, leftover_json
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import VerificationFailed

AFFECTED_NOTED = 100  # short ids of damaged snapshots in the audit record (snapshot show reads them)


class Percent(click.ParamType):  # type: ignore[type-arg]
    name = "percent"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        text = str(value).strip().rstrip("%")
        try:
            pct = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a percentage (0-100)", param, ctx)
        if not 0 < pct <= 100:
            self.fail(f"{value!r} is not in (0, 100]", param, ctx)
        return pct


@click.command()
@repo_options
@click.option(
    "--read-data",
    type=Percent(),
    is_flag=False,
    flag_value="100",
    default=None,
    help="Also decrypt and re-hash data: all of it, or --read-data=PERCENT of the packs (chosen at random).",
)
@click.option("--snapshot", help="Only this snapshot (id, prefix or 'latest').")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
@output_option
@audited("verify", "verify")
def verify(
    repo: RepoOptions, read_data: float | None, snapshot: str | None, progress: bool | None, output: str
) -> None:
    """Verify a repository: every referenced object exists, signatures and hashes hold.

    Exits 13 when anything is missing, corrupt or tampered with; each problem names the object
    and the snapshots it affects.
    """
    r = repo.open()
    scope = r.find_snapshot(snapshot).id if snapshot else "all"
    report = r.verify(read_data_percent=read_data or 0.0, snapshot=snapshot, progress=make_progress(progress))
    data = {
        "ok": report.ok,
        "snapshots_checked": report.snapshots_checked,
        "trees_checked": report.trees_checked,
        "blobs_checked": report.blobs_checked,
        "packs_checked": report.packs_checked,
        "packs_read": report.packs_read,
        "problems": [
            {"kind": p.kind.value, "object": p.object, "message": p.message, "snapshots": list(p.snapshots)}
            for p in report.problems
        ],
        "warnings": list(report.warnings),
        "leftovers": [leftover_json(item) for item in report.leftovers],
    }
    lines = [
        f"checked {report.snapshots_checked} snapshots, {report.trees_checked} trees, "
        f"{report.blobs_checked} blobs, {report.packs_checked} packs ({report.packs_read} read in full)"
    ]
    lines += [f"  {p}" for p in report.problems]
    lines += [f"  warning: {w}" for w in report.warnings]
    lines.append("no problems found" if report.ok else f"{len(report.problems)} problems found")
    if report.leftovers:
        size = human_bytes(sum(item.size for item in report.leftovers))
        oldest = min(item.started for item in report.leftovers).strftime("%Y-%m-%d %H:%M UTC")
        lines.append(
            f"{len(report.leftovers)} leftovers of interrupted writes (temporary files, incomplete "
            f"uploads; {size}, oldest {oldest}): `drkit prune` removes those older than 1 hour"
        )
        lines += [f"  {item.name}" for item in report.leftovers[:LEFTOVERS_SHOWN]]
        if len(report.leftovers) > LEFTOVERS_SHOWN:
            lines.append(f"  ... and {len(report.leftovers) - LEFTOVERS_SHOWN} more (-o json lists all)")
    emit(data, output, text="\n".join(lines))
    affected = sorted({s[:8] for p in report.problems for s in p.snapshots})
    note(
        scope=scope,
        readDataPercent=read_data or 0.0,
        snapshots=report.snapshots_checked,
        problems=len(report.problems),
        affected=affected[:AFFECTED_NOTED],
        affectedTruncated=len(affected) > AFFECTED_NOTED,
    )
    if not report.ok:
        raise VerificationFailed(
            f"{len(report.problems)} problems in {repo.shown()}: first {report.problems[0]}",
            hint="restore from another snapshot; see the list above",
        )
