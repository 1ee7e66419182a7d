"""Options every repository command shares: where the repository is and what opens it."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import click

from drkit.errors import ConfigError, WrongKey
from drkit.repo.format.keyslots import ENV_KEY_FILE, ENV_PASSWORD, ENV_PASSWORD_FILE, Credential
from drkit.repo.format.unlocking import Unlocking
from drkit.secret import Secret
from drkit.storage.base import Store
from drkit.storage.options import S3Options
from drkit.storage.url import describe, open_store

if TYPE_CHECKING:  # a schedule's settings: the schedule modules cost ~0.5 s of start-up to import
    from drkit.config.schedule import RepositorySettings
    from drkit.repo.repository import Repository  # imported while the key is derived (PendingOpen)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RepoOptions:
    url: str
    password_file: Path | None
    key_file: Path | None
    s3: S3Options

    def _s3(self) -> S3Options | None:
        return self.s3 if self.s3.set_fields() else None

    def store(self) -> Store:
        return open_store(self.url, self._s3())

    def shown(self) -> str:
        """The repository's URL without secrets, for messages."""
        return describe(self.url, self._s3())

    def credential(self, *, confirm: bool = False) -> Credential:
        """From the options or DRKIT_PASSWORD_FILE / DRKIT_PASSWORD / DRKIT_KEY_FILE; else asked
        for on a terminal (twice when ``confirm``, for a new repository)."""
        try:
            return Credential.from_env_and_options(self.password_file, self.key_file)
        except ConfigError:
            if not (sys.stdin.isatty() and sys.stderr.isatty()):
                raise
        value = click.prompt("Repository passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
        return Credential(passphrase=Secret(value), source="the passphrase typed at the prompt")

    def open(self) -> Repository:
        with self.opening() as pending:
            return pending.repository()

    def open_for_backup(self, write_only: bool) -> Repository:
        """``open()``, or with ``write_only`` the write-only open: back up, never read (docs/keys.md)."""
        with self.opening(write_only) as pending:
            return pending.repository()

    @contextmanager
    def opening(self, write_only: bool = False) -> Iterator[PendingOpen]:
        """Start opening the repository: its key slot is opened on a thread (scrypt, ~0.2 s) while the
        block goes on (imports, other start-up work) until it asks ``pending.repository()``. The
        thread is joined when the block ends, whatever happens in it."""
        credential = self.credential()
        store = self.store()
        with Unlocking(store, credential, write_only=write_only) as unlocking:
            yield PendingOpen(self, store, credential, unlocking)

    def opened(self, repo: Repository) -> Repository:
        """Called with each repository these options opened (the audit log records into the last)."""
        return repo

    @contextmanager
    def naming(self, credential: Credential) -> Iterator[None]:
        """A wrong key's hint names the credential that was tried (never its value)."""
        try:
            yield
        except WrongKey as exc:
            tried = f"tried {credential.source or 'the given credential'} on {self.shown()}"
            exc.hint = (
                f"{tried}; {exc.hint}"
                if exc.hint
                else (
                    f"{tried}: is it this repository's? `drkit repo key list` (with a working credential) "
                    "lists its slots"
                )
            )
            raise


@dataclass(frozen=True)
class PendingOpen:
    """A repository being opened (:meth:`RepoOptions.opening`)."""

    options: RepoOptions
    store: Store
    credential: Credential
    unlocking: Unlocking

    def repository(self) -> Repository:
        """The open repository, once its key slot opened (``WrongKey``, ... as ``Repository.open``)."""
        from drkit.repo.repository import Repository  # its engines load while scrypt runs

        with self.options.naming(self.credential):
            if self.unlocking.write_only:
                repo = Repository.open_writer(self.store, self.credential, unlocking=self.unlocking)
            else:
                repo = Repository.open(self.store, self.credential, unlocking=self.unlocking)
        return self.options.opened(repo)


def write_only_option(func: F) -> F:
    """``--write-only`` for the backup commands (env ``DRKIT_WRITE_ONLY``)."""
    return click.option(
        "--write-only",
        is_flag=True,
        envvar="DRKIT_WRITE_ONLY",
        help="Open the repository write-only (a writer key slot, or any slot used as one): the backup is "
        "sealed with a session key only a master key opens, and nothing stored before can be read. "
        "Env: DRKIT_WRITE_ONLY.",
    )(func)


@overload
def repo_options(func: F, *, required: bool = True) -> F: ...


@overload
def repo_options(func: None = None, *, required: bool = True) -> Callable[[F], F]: ...


def repo_options(func: F | None = None, *, required: bool = True) -> F | Callable[[F], F]:
    """``--repo`` and its credential and S3 options; the command receives ``repo: RepoOptions``.
    ``@repo_options(required=False)``: ``--repo`` may be left out (``repo.url`` is then ``""``), for
    commands that take the repository from a file (restore plans)."""
    if func is None:
        return lambda f: _repo_options(f, required=required)
    return _repo_options(func, required=required)


def _repo_options(func: F, *, required: bool) -> F:
    @click.option(
        "--repo",
        "repo_url",
        envvar="DRKIT_REPO",
        required=required,
        metavar="URL",
        help="Repository: a directory, file:///path or s3://bucket/prefix[?endpoint=...]. Env: DRKIT_REPO. "
        "S3 credentials come from the AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).",
    )
    @click.option(
        "--password-file",
        envvar=ENV_PASSWORD_FILE,
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"File holding the passphrase. Env: {ENV_PASSWORD_FILE} (or {ENV_PASSWORD}).",
    )
    @click.option(
        "--key-file",
        envvar=ENV_KEY_FILE,
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Key file that opens a key slot. Env: {ENV_KEY_FILE}.",
    )
    @click.option(
        "--s3-endpoint", metavar="URL", help="S3 endpoint of a non-AWS server (MinIO, SeaweedFS, ...)."
    )
    @click.option(
        "--s3-region", metavar="REGION", help="S3 region (default: from the AWS chain, else us-east-1)."
    )
    @click.option(
        "--s3-path-style/--s3-virtual-host",
        default=None,
        help="Path-style addressing (default with an endpoint).",
    )
    @click.option(
        "--s3-ca-bundle",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="PEM file of CAs to trust for https.",
    )
    @click.option("--s3-profile", metavar="NAME", help="Named AWS profile for credentials.")
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        repo_url: str | None,
        password_file: Path | None,
        key_file: Path | None,
        s3_endpoint: str | None,
        s3_region: str | None,
        s3_path_style: bool | None,
        s3_ca_bundle: Path | None,
        s3_profile: str | None,
        **kwargs: Any,
    ) -> Any:
        s3 = S3Options(
            endpoint=s3_endpoint,
            region=s3_region,
            path_style=s3_path_style,
            ca_bundle=s3_ca_bundle,
            profile=s3_profile,
        )
        repo = RepoOptions(repo_url or "", password_file, key_file, s3)
        return func(*args, repo=repo, **kwargs)

    return wrapper  # type: ignore[return-value]


def with_settings(repo: RepoOptions, settings: RepositorySettings) -> RepoOptions:
    """``repo`` with a file's repository settings (a schedule's, a restore plan's) as defaults: what
    the command line gives wins, then the file, then the environment (DRKIT_REPO, ...)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE

    s3 = repo.s3
    if not repo.s3.set_fields():
        s3 = settings.s3_options()
    # replace(), not a new RepoOptions: a subclass (the audit log's recorder) stays what it is
    return dataclasses.replace(
        repo,
        url=repo.url if given("repo_url") else settings.url,
        password_file=repo.password_file
        if given("password_file")
        else settings.password_file or repo.password_file,
        key_file=repo.key_file if given("key_file") else settings.key_file or repo.key_file,
        s3=s3,
    )
