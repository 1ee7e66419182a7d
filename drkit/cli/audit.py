"""`drkit audit`: list the repository's audit log; and `@audited`, which records a command in it.

A command decorated with ``@audited(action, command)`` (directly above its ``def``, below the click
decorators) appends one record after it ran, successful or not, to the repository it opened through
its ``repo: RepoOptions`` (nothing is recorded when it never opened one, e.g. a wrong passphrase, nor
for a ``--dry-run``, which promises to change nothing).
``note(key=value)`` inside the command adds facts (a snapshot id) to that record. Recording is
best-effort: a record that cannot be stored (a credential without put rights) is a logged warning,
never a change of the command's outcome.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.errors import DrkitError, PartialFailure, VerificationFailed
from drkit.repo.format import audit as audit_log

if TYPE_CHECKING:  # imported while the key is derived (drkit.cli.repoopts.PendingOpen)
    from drkit.repo.repository import Repository

log = logging.getLogger("drkit.cli.audit")
F = TypeVar("F", bound=Callable[..., Any])

_detail: ContextVar[dict[str, Any] | None] = ContextVar("drkit_audit_detail", default=None)


def note(**facts: Any) -> None:
    """Add facts to the audit record of the command running now (no-op outside ``@audited``)."""
    detail = _detail.get()
    if detail is not None:
        detail.update(facts)


@dataclass(frozen=True)
class _Recording(RepoOptions):
    """The command's RepoOptions, remembering the repositories it opened."""

    opened_repos: list[Repository] = field(default_factory=list, compare=False, repr=False)

    def opened(self, repo: Repository) -> Repository:
        self.opened_repos.append(repo)
        return repo


def audited(action: str, command: str) -> Callable[[F], F]:
    """Record each run of the decorated command as ``action`` (see ``drkit.repo.format.audit.ACTIONS``)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            opts = kwargs.get("repo")
            opened: list[Repository] = []
            if isinstance(opts, RepoOptions):
                values = {f.name: getattr(opts, f.name) for f in fields(RepoOptions)}
                kwargs["repo"] = _Recording(**values, opened_repos=opened)
            detail: dict[str, Any] = {}
            token = _detail.set(detail)
            result = "ok"
            try:
                return func(*args, **kwargs)
            except PartialFailure as exc:
                result, detail["error"] = "partial", audit_log.error_text(exc)
                raise
            except BaseException as exc:
                result, detail["error"] = "failed", audit_log.error_text(exc)
                raise
            finally:
                _detail.reset(token)
                if opened and not kwargs.get("dry_run"):  # a dry run changes nothing, not even the log
                    record(opened[-1], action, command, result, detail)

        return wrapper  # type: ignore[return-value]

    return decorate


def record(repo: Repository, action: str, command: str, result: str, detail: dict[str, Any]) -> None:
    """Append one record; a failure to store it is logged, not raised."""
    try:
        stored = audit_log.append(repo, audit_log.AuditRecord.now(action, command, result, detail=detail))
    except (DrkitError, OSError) as exc:
        log.warning("audit record of %r not stored: %s", command, exc)
        return
    log.debug("audit record %s stored", stored.key)


@click.command("audit")
@repo_options
@click.option(
    "--action", "actions", multiple=True, type=click.Choice(audit_log.ACTIONS), help="Only these actions."
)
@click.option("--last", type=click.IntRange(min=1), help="Only the newest N records.")
@output_option
def audit(repo: RepoOptions, actions: tuple[str, ...], last: int | None, output: str) -> None:
    """List the audit log: who backed up, restored, pruned or changed keys, when, and how it went.

    Every record's signature is checked; records that fail are listed as problems (exit code of a
    failed verification), never as entries.
    """
    r = repo.open()
    found = audit_log.list_records(r)
    chosen = [rec for rec in found.records if not actions or rec.action in actions]
    if last is not None:
        chosen = chosen[-last:]
    data = {
        "records": [rec.to_json() for rec in chosen],
        "problems": [{"key": p.key, "message": p.message} for p in found.problems],
    }
    table = [
        {
            "time": rec.time.strftime("%Y-%m-%d %H:%M:%S"),
            "action": rec.action,
            "command": rec.command,
            "result": rec.result,
            "user": f"{rec.actor.user}@{rec.actor.host}",
            "identity": rec.actor.identity or "",
            "detail": _short(rec.detail),
        }
        for rec in chosen
    ]
    lines = [render_table(table), f"{len(chosen)} records"]
    lines += [f"PROBLEM {p.key}: {p.message}" for p in found.problems]
    emit(data, output, text="\n".join(lines))
    if found.problems:
        raise VerificationFailed(
            f"{len(found.problems)} audit records fail verification (listed above)",
            hint="they were altered or planted; the locked originals, if any, are listed as records",
        )


def _short(detail: Any) -> str:
    text = ", ".join(f"{k}={v}" for k, v in dict(detail).items())
    return text if len(text) <= 80 else text[:77] + "..."
