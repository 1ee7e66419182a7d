"""drkit's typed errors and the exit-code contract they carry.

The core raises these (wrapping library errors at the boundary with ``raise ... from``); only
``drkit.cli`` turns them into a message and an exit code. The contract is documented in
``docs/cli.md`` and tested in ``tests/unit/test_exit_codes.py``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Stable: scripts and the daemon's callers rely on them. 11 is never used:
    drkit takes no repository lock (docs/cli.md says why), and 11 stays free rather than change meaning;
    3 ("not implemented yet") went when the last planned command landed, and stays free too."""

    OK = 0
    PARTIAL = 1
    USAGE = 2
    REPOSITORY_NOT_FOUND = 10
    WRONG_KEY = 12
    VERIFICATION_FAILED = 13
    DRILL_FAILED = 14
    STORAGE = 15
    MISSING_COMPONENT = 16
    KUBERNETES = 17
    ETCD = 18
    SANDBOX = 19
    INTERNAL = 70
    INTERRUPTED = 130


class DrkitError(Exception):
    """Base of every error drkit raises on purpose. ``exit_code`` is what the CLI exits with."""

    exit_code: ExitCode = ExitCode.INTERNAL
    transient: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class PartialFailure(DrkitError):
    """The work finished, but some items failed; each failure is reported by the caller."""

    exit_code = ExitCode.PARTIAL


class ConfigError(DrkitError):
    """Bad input: options, a schedule, a restore plan. Names the file, line and field when known."""

    exit_code = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = file if line is None else f"{file}:{line}"
        if field:
            where = f"{where}: {field}" if where else field
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.file = file
        self.line = line
        self.field = field


class RepositoryNotFound(DrkitError):
    exit_code = ExitCode.REPOSITORY_NOT_FOUND


class WrongKey(DrkitError):
    """The passphrase or key file opens no key slot of the repository."""

    exit_code = ExitCode.WRONG_KEY


class VerificationFailed(DrkitError):
    """An object is missing, corrupt or tampered with; the message names it."""

    exit_code = ExitCode.VERIFICATION_FAILED


class DrillFailed(DrkitError):
    exit_code = ExitCode.DRILL_FAILED


class StorageError(DrkitError):
    """The object store failed in a way retries did not cure."""

    exit_code = ExitCode.STORAGE


class MissingComponent(DrkitError):
    """A binary drkit needs (etcd, kube-apiserver, ...) is not installed or not built."""

    exit_code = ExitCode.MISSING_COMPONENT


class KubernetesError(DrkitError):
    exit_code = ExitCode.KUBERNETES


class EtcdError(DrkitError):
    exit_code = ExitCode.ETCD


class SandboxError(DrkitError):
    """A local test server (etcd, kube-apiserver, MinIO, ...) failed to start or answer."""

    exit_code = ExitCode.SANDBOX
