"""The tools under test: how each one is found, and the command lines of init, backup and restore.

Every tool encrypts, writes a repository on the local disk, and keeps its default compression:
- drkit: zstd level 1 (the default since 2026-12-03; skipped for chunks it finds incompressible), AES-256-GCM,
  keyed BLAKE3, FastCDC 512 KiB / 1 MiB / 8 MiB; Object Lock retention recorded by LocalStore (its
  default: governance).
- restic: ``auto`` compression (zstd "fastest"; repository format 2), AES-256-CTR + Poly1305-AES.
- kopia: no compression (its default policy), AES256-GCM-HMAC-SHA256, BLAKE2B-256-128, buzhash 4 MiB.
- borg: lz4, ``--encryption=repokey`` (AES-256-CTR + HMAC-SHA256; the CPU has SHA extensions).
Each tool's caches and configuration live in its own work directory, created fresh for every run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "bench-password-not-secret"  # noqa: S105 - throwaway repositories of generated data

COMPRESSION = {
    "drkit": "zstd-1, the default of repo init (incompressible chunks stored raw)",
    "drkit-raw": "none (repo init --compression none: kopia's default, a like-for-like comparison)",
    "drkit-zstd3": "zstd-3 (repo init --compression zstd-3, the default before 2026-12-03)",
    "restic": "auto (zstd fastest), repository v2",
    "kopia": "none (default policy)",
    "borg": "lz4",
}


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass
class Tool:
    """One tool bound to its work directory (repository, caches, password file)."""

    name: str
    binary: Path
    work: Path

    @property
    def repo(self) -> Path:
        return self.work / "repo"

    @property
    def password_file(self) -> Path:
        return self.work / "password"

    def prepare(self) -> None:
        """A fresh work directory: no repository, no cache."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.password_file.write_text(PASSWORD)

    def env(self) -> dict[str, str]:
        return {}

    def version(self) -> str:
        out = subprocess.run(
            [str(self.binary), *self.version_args()], capture_output=True, text=True, check=False, timeout=60
        )
        lines = (out.stdout or out.stderr).strip().splitlines()
        return lines[0] if lines else "unknown"

    def version_args(self) -> list[str]:
        return ["--version"]

    def init(self) -> Command:
        raise NotImplementedError

    def backup(self, source: Path, label: str) -> Command:
        raise NotImplementedError

    def restore(self, source: Path, label: str, target: Path) -> Command:
        raise NotImplementedError

    def restored_root(self, source: Path, target: Path) -> Path:
        """Where the backed-up tree's root ends up under ``target``."""
        return target

    def _cmd(self, *args: str, cwd: Path | None = None) -> Command:
        return Command([str(self.binary), *args], self.env(), cwd)


@dataclass
class Drkit(Tool):
    """drkit's CLI; with ``source`` set, ``python -m drkit`` from that exported tree (a fixed commit)."""

    source: Path | None = None
    commit: str = ""

    def _cmd(self, *args: str, cwd: Path | None = None) -> Command:
        if self.source is None:
            return super()._cmd(*args, cwd=cwd)
        # cwd is first on sys.path for ``-m``: run from the export, never from the checkout
        return Command(
            [sys.executable, "-m", "drkit", *args], {"PYTHONPATH": str(self.source)}, cwd or self.source
        )

    def version(self) -> str:
        cmd = self._cmd("--version")
        env = {**os.environ, **cmd.env}
        out = subprocess.run(
            cmd.argv, capture_output=True, text=True, check=False, timeout=60, env=env, cwd=cmd.cwd
        )
        text = (out.stdout or out.stderr).strip()
        return f"{text} (commit {self.commit})" if self.commit else f"{text} (work tree)"

    def _repo_args(self) -> list[str]:
        return ["--repo", str(self.repo), "--password-file", str(self.password_file)]

    def init(self) -> Command:
        return self._cmd("repo", "init", *self._repo_args())

    def backup(self, source: Path, label: str) -> Command:
        return self._cmd("backup", "path", str(source), *self._repo_args(), "--tag", label, "--no-progress")

    def restore(self, source: Path, label: str, target: Path) -> Command:
        return self._cmd("restore", "path", "latest", str(target), *self._repo_args(), "--no-progress")


@dataclass
class DrkitRaw(Drkit):
    """drkit with a repository created ``--compression none``: what kopia does by default, so that the
    two engines compare like for like (not in the default set: ``--tools drkit,drkit-raw,kopia``)."""

    def init(self) -> Command:
        return self._cmd("repo", "init", *self._repo_args(), "--compression", "none")


@dataclass
class DrkitZstd3(Drkit):
    """drkit with a repository created ``--compression zstd-3`` (the default before 2026-12-03), beside
    the default zstd-1 and ``drkit-raw`` (``--tools drkit,drkit-zstd3,drkit-raw,kopia``)."""

    def init(self) -> Command:
        return self._cmd("repo", "init", *self._repo_args(), "--compression", "zstd-3")


class Restic(Tool):
    def env(self) -> dict[str, str]:
        return {
            "RESTIC_REPOSITORY": str(self.repo),
            "RESTIC_PASSWORD_FILE": str(self.password_file),
            "RESTIC_CACHE_DIR": str(self.work / "cache"),
        }

    def version_args(self) -> list[str]:
        return ["version"]

    def init(self) -> Command:
        return self._cmd("init")

    def backup(self, source: Path, label: str) -> Command:
        return self._cmd("backup", "--quiet", "--tag", label, str(source))

    def restore(self, source: Path, label: str, target: Path) -> Command:
        return self._cmd("restore", "--quiet", "latest", "--target", str(target))

    def restored_root(self, source: Path, target: Path) -> Path:
        return target / source.resolve().relative_to("/")  # restic restores the absolute path


class Kopia(Tool):
    def env(self) -> dict[str, str]:
        return {
            "KOPIA_PASSWORD": PASSWORD,
            "KOPIA_CONFIG_PATH": str(self.work / "repository.config"),
            "KOPIA_CACHE_DIRECTORY": str(self.work / "cache"),
            "KOPIA_LOG_DIR": str(self.work / "logs"),
            "KOPIA_CHECK_FOR_UPDATES": "false",
        }

    def init(self) -> Command:
        return self._cmd("repository", "create", "filesystem", "--path", str(self.repo))

    def backup(self, source: Path, label: str) -> Command:
        return self._cmd("snapshot", "create", str(source), "--description", label, "--no-progress")

    def restore(self, source: Path, label: str, target: Path) -> Command:
        listing = subprocess.run(
            [str(self.binary), "snapshot", "list", str(source), "--json"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        root = json.loads(listing.stdout)[-1]["rootEntry"]["obj"]
        return self._cmd("snapshot", "restore", root, str(target), "--no-progress")


class Borg(Tool):
    def env(self) -> dict[str, str]:
        base = self.work / "borg"
        return {
            "BORG_REPO": str(self.repo),
            "BORG_PASSPHRASE": PASSWORD,
            "BORG_BASE_DIR": str(base),
            "BORG_CACHE_DIR": str(base / "cache"),
            "BORG_CONFIG_DIR": str(base / "config"),
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
        }

    def init(self) -> Command:
        return self._cmd("init", "--encryption=repokey")

    def backup(self, source: Path, label: str) -> Command:
        return self._cmd("create", f"::{label}", ".", cwd=source)

    def restore(self, source: Path, label: str, target: Path) -> Command:
        target.mkdir(parents=True, exist_ok=True)
        return self._cmd("extract", f"::{label}", cwd=target)


TOOL_CLASSES: dict[str, type[Tool]] = {
    "drkit": Drkit,
    "drkit-raw": DrkitRaw,
    "drkit-zstd3": DrkitZstd3,
    "kopia": Kopia,
    "restic": Restic,
    "borg": Borg,
}
ORDER = ("drkit", "kopia", "restic", "borg")  # the default set
KNOWN = ("drkit", "drkit-raw", "drkit-zstd3", "kopia", "restic", "borg")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def export_drkit(root: Path, ref: str) -> tuple[Path, str]:
    """Export ``drkit/`` of commit ``ref`` into .bench/drkit/<tree id>/ (once, byte-compiled); returns
    (directory, commit).

    The checkout is shared with work in progress: benchmarking a commit keeps the numbers reproducible.
    """
    commit = _git(root, "rev-parse", "--verify", f"{ref}^{{commit}}")
    tree = _git(root, "rev-parse", f"{commit}:drkit")
    dest = root / ".bench" / "drkit" / tree[:12]
    if not dest.is_dir():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        has_setup = bool(_git(root, "ls-tree", "--name-only", commit, "setup.py"))
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", commit, "drkit"]
            + (["setup.py"] if has_setup else []),
            capture_output=True,
            check=True,
            timeout=300,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        build_native(tmp)
        tmp.rename(dest)
    if not (dest / "drkit" / "__pycache__").is_dir():
        # Byte-compiled once, as an installed package is (pip compiles at install time): with
        # PYTHONDONTWRITEBYTECODE set, every measured command would otherwise compile every module.
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(dest / "drkit")], check=True, timeout=300
        )
    return dest, commit[:12]


def build_native(tree: Path) -> None:
    """Build an exported tree's extension modules in place (``setup.py``, as ``pip install`` does: C
    sources and Rust crates), so that ``python -m drkit`` from it runs what an installed drkit of that
    commit runs. A crate's cargo build tree (``target/``, ~100 MiB) is removed once its module is in
    place."""
    native = tree / "drkit" / "native"
    sources = [*native.glob("_*.c"), *native.glob("*/Cargo.toml")]
    if not (tree / "setup.py").is_file() or not sources:
        return
    subprocess.run(
        [sys.executable, "setup.py", "--quiet", "build_ext", "--inplace"],
        cwd=tree,
        check=True,
        timeout=900,
        capture_output=True,
    )
    for target in native.glob("*/target"):
        shutil.rmtree(target)


def find_binary(name: str, root: Path) -> Path | None:
    """drkit from the virtualenv running the bench; the others from .bench/tools/bin, then PATH."""
    if name in ("drkit", "drkit-raw", "drkit-zstd3"):
        candidates = [Path(sys.executable).parent / "drkit", root / ".venv" / "bin" / "drkit"]
    else:
        candidates = [root / ".bench" / "tools" / "bin" / name]
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    return next((c for c in candidates if c.exists() and os.access(c, os.X_OK)), None)
