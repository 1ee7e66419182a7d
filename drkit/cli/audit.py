"""`@audited`, which records a command in the repository's audit log (`drkit audit` lists it:
``drkit.cli.auditlog``).

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

from drkit.cli.repoopts import RepoOptions
from drkit.errors import DrkitError, PartialFailure

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
                result, detail["error"] = "partial", _error_text(exc)
                raise
            except BaseException as exc:
                result, detail["error"] = "failed", _error_text(exc)
                raise
            finally:
                _detail.reset(token)
                if opened and not kwargs.get("dry_run"):  # a dry run changes nothing, not even the log
                    record(opened[-1], action, command, result, detail)

        return wrapper  # type: ignore[return-value]

    return decorate


def _error_text(exc: BaseException) -> str:
    from drkit.repo.format import audit as audit_log  # not before the command: a backup loads it later

    return audit_log.error_text(exc)


def record(repo: Repository, action: str, command: str, result: str, detail: dict[str, Any]) -> None:
    """Append one record; a failure to store it is logged, not raised."""
    from drkit.repo.format import audit as audit_log

    try:
        stored = audit_log.append(repo, audit_log.AuditRecord.now(action, command, result, detail=detail))
    except (DrkitError, OSError) as exc:
        log.warning("audit record of %r not stored: %s", command, exc)
        return
    log.debug("audit record %s stored", stored.key)
