"""Build drkit's container images without a Docker engine or a registry: `make image`.

    python3 hack/image/build.py [--out DIR] [--refresh-base] [drkit|testapp|pause ...]

Images (each an OCI image layout, tarred, into DIR, default .testbin/images):

- ``drkit.local/drkit:dev`` (drkit.oci.tar): the Dockerfile's image, built from a Debian bookworm root
  file system made by ``mmdebstrap`` (Python 3.11 from Debian), the venv /opt/drkit with drkit and its
  dependencies, etcdutl (the pinned build of hack/testbin), user 65532, no shell, no package manager.
  Two layers: the hardened base (rebuilt only when its definition changes) and drkit (rebuilt only
  when drkit's sources, pyproject.toml, setup.py or etcdutl change).
- ``drkit.local/testapp:1`` (testapp.oci.tar): Debian's static busybox with its applets (sh, httpd,
  sha256sum, sleep, wget...), for demos and tests; pods set its command.
- ``drkit.local/pause:1`` (pause.oci.tar): the same busybox running ``sleep 2147483647``: the pod
  sandbox image of the sandbox's real nodes.

The expensive parts are cached outside the work tree (DRKIT_IMAGE_CACHE, default
~/.cache/drkit/images), keyed by what defines them. Needs root (chroot) and the Debian packages of
hack/system-deps.sh. docs/deploy.md says how this definition and the Dockerfile are kept equal.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import oci

ROOT = Path(__file__).resolve().parents[2]
# Bump when the way layers are made changes in a way their definitions below do not show.
BUILDER_VERSION = "1"
# Every time stamp in every layer is clamped to this (2024-01-01T00:00:00Z): same inputs, same digests.
EPOCH = 1704067200
# Layers of each kind kept in the cache (a drkit layer is ~70 MB).
KEEP_LAYERS = 3
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"


@dataclass(frozen=True)
class BaseDefinition:
    """The Debian root file system under drkit, and what is removed from it (the Dockerfile's last RUN)."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ("python3-minimal", "python3-venv", "ca-certificates")
    # Not installed at all (the same paths python:3.11-slim-bookworm's Debian base leaves out).
    dpkg_excludes: tuple[str, ...] = (
        "/usr/share/doc/*",
        "/usr/share/man/*",
        "/usr/share/info/*",
        "/usr/share/locale/*",
        "/usr/share/lintian/*",
    )
    dpkg_includes: tuple[str, ...] = ("/usr/share/doc/*/copyright",)
    user: str = "drkit"
    uid: int = 65532
    gid: int = 65532
    home: str = "/tmp"  # noqa: S108 (a path in the image, as the Dockerfile says)
    login_shell: str = "/usr/sbin/nologin"
    # Created empty; (path, owned by the user?)
    directories: tuple[tuple[str, bool], ...] = (("var/cache/drkit", True), ("etc/drkit", False))
    # Removed (fnmatch patterns on paths; a directory goes with everything under it). bookworm has a
    # merged /usr: /bin/sh is /usr/bin/sh. /var/lib/dpkg/status stays: image scanners read it.
    remove: tuple[str, ...] = (
        # shells
        "usr/bin/sh",
        "usr/bin/bash",
        "usr/bin/rbash",
        "usr/bin/dash",
        # package managers: apt, dpkg, pip (the wheels ensurepip installs from)
        "usr/bin/apt*",
        "usr/lib/apt",
        "usr/bin/dpkg*",
        "usr/sbin/dpkg*",
        "usr/lib/dpkg",
        "usr/share/python-wheels",
        "usr/bin/pydoc3*",
        "var/lib/apt/lists",
        "var/cache/apt",
        "var/cache/debconf",
        "var/log/*",
        # perl (perl-base), and tools an attacker wants and drkit never runs
        "usr/bin/perl*",
        "usr/share/perl*",
        "usr/lib/x86_64-linux-gnu/perl-base",
        "usr/lib/aarch64-linux-gnu/perl-base",
        "usr/bin/su",
        "usr/bin/passwd",
        "usr/bin/chsh",
        "usr/bin/chfn",
        "usr/bin/newgrp",
        "usr/bin/gpasswd",
        "usr/bin/mount",
        "usr/bin/umount",
        "usr/bin/wall",
        # the runtime mounts /dev
        "dev/*",
    )

    def mmdebstrap_args(self) -> list[str]:
        args = [
            f"--variant={self.variant}",
            "--include=" + ",".join(self.packages),
            # merged /usr with symlinks (as Debian's own images), not the usrmerge package, which
            # would pull in the whole of perl
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            '--aptopt=Acquire::Languages "none"',
        ]
        args += [f"--dpkgopt=path-exclude={p}" for p in self.dpkg_excludes]
        args += [f"--dpkgopt=path-include={p}" for p in self.dpkg_includes]
        return args

    def mirrors(self) -> list[str]:
        return [
            f"deb {DEBIAN_MIRROR} {self.suite} main",
            f"deb {DEBIAN_MIRROR} {self.suite}-updates main",
            f"deb {DEBIAN_SECURITY} {self.suite}-security main",
        ]

    def removed(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) or name.startswith(p + "/") for p in self.remove)


@dataclass(frozen=True)
class DrkitDefinition:
    """drkit's image: the parts that tests/unit/test_image_definition.py checks against the Dockerfile."""

    name: str = "drkit.local/drkit:dev"
    python: str = "3.11"
    base: BaseDefinition = field(default_factory=BaseDefinition)
    venv: str = "/opt/drkit"
    etcdutl: str = "/usr/local/bin/etcdutl"
    entrypoint: tuple[str, ...] = ("drkit",)
    cmd: tuple[str, ...] = ("--help",)
    env: tuple[str, ...] = (
        "PATH=/opt/drkit/bin:/usr/local/bin:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "HOME=/tmp",
        "XDG_CACHE_HOME=/var/cache/drkit",
        "LANG=C.UTF-8",  # python:3.11-slim sets it too
    )
    workdir: str = "/tmp"  # noqa: S108 (in the image)
    labels: tuple[tuple[str, str], ...] = (
        ("org.opencontainers.image.title", "drkit"),
        (
            "org.opencontainers.image.description",
            "Encrypted, immutable, verified Kubernetes backups and rehearsed restores",
        ),
        ("org.opencontainers.image.source", "https://github.com/drkit/drkit"),
        ("org.opencontainers.image.licenses", "Apache-2.0"),
    )
    # Removed from the venv after drkit is installed (the Dockerfile's build stage does the same).
    venv_uninstall: tuple[str, ...] = ("pip", "setuptools", "wheel")

    @property
    def user(self) -> str:
        return f"{self.base.uid}:{self.base.gid}"


DRKIT = DrkitDefinition()
TESTAPP_NAME = "drkit.local/testapp:1"
PAUSE_NAME = "drkit.local/pause:1"
PAUSE_ENTRYPOINT = ("/bin/busybox", "sleep", "2147483647")
BUSYBOX = Path("/bin/busybox")
ALL_IMAGES = ("drkit", "testapp", "pause")
DEFAULT_ETCDUTL = ROOT / ".testbin/bin/etcdutl"


def log(message: str) -> None:
    print(f"[image {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BuildError(Exception):
    pass


def sha256_text(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, text=True, capture_output=True, check=False, **kwargs)
    if result.returncode != 0:
        raise BuildError(
            f"{' '.join(cmd)}: exit {result.returncode}\n{result.stdout}{result.stderr}".rstrip()
        )
    return result


def architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def etcd_version() -> str:
    text = (ROOT / "hack/testbin/versions.env").read_text()
    match = re.search(r"^ETCD_VERSION=(\S+)$", text, re.MULTILINE)
    if not match:
        raise BuildError("hack/testbin/versions.env: no ETCD_VERSION")
    return match.group(1)


def drkit_version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (ROOT / "drkit/__init__.py").read_text(), re.MULTILINE)
    if not match:
        raise BuildError("drkit/__init__.py: no __version__")
    return match.group(1)


class Cache:
    """~/.cache/drkit/images: the base root file systems and the layers, by key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with (self.path / ".lock").open("w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another image build holds {self.path / '.lock'}; waiting for it")
                fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def layer(self, kind: str, key: str) -> oci.Layer | None:
        meta = self.path / "layers" / f"{kind}-{key}.json"
        blob = meta.with_suffix(".tar.gz")
        if meta.is_file() and blob.is_file():
            meta.touch()  # recently used: kept by prune()
            return oci.Layer.from_json(blob, json.loads(meta.read_text()))
        return None

    def layer_writer(self, kind: str, key: str, comment: str) -> oci.LayerWriter:
        return oci.LayerWriter(self.path / "layers" / f"{kind}-{key}.tar.gz", EPOCH, comment)

    def keep_layer(self, kind: str, key: str, layer: oci.Layer) -> oci.Layer:
        meta = self.path / "layers" / f"{kind}-{key}.json"
        meta.write_text(json.dumps(layer.to_json(), indent=1) + "\n")
        self.prune(kind)
        return layer

    def prune(self, kind: str) -> None:
        """Keep the KEEP_LAYERS most recently used layers of a kind (other checkouts may use older ones)."""
        metas = sorted((self.path / "layers").glob(f"{kind}-*.json"), key=lambda p: p.stat().st_mtime)
        for meta in metas[:-KEEP_LAYERS]:
            meta.with_suffix(".tar.gz").unlink(missing_ok=True)
            meta.unlink(missing_ok=True)


# --- drkit: the Debian base ---------------------------------------------------------------------------


def base_key(base: BaseDefinition) -> str:
    return sha256_text(json.dumps(base.mmdebstrap_args()), base.suite, *base.mirrors())[:16]


def ensure_base_rootfs(cache: Cache, base: BaseDefinition, refresh: bool) -> Path:
    """The mmdebstrap root file system (a tar and its extracted tree for chroot), built once per key."""
    where = cache.path / f"base-{base_key(base)}"
    if refresh and where.exists():
        log(f"--refresh-base: removing {where}")
        shutil.rmtree(where)
    if (where / ".complete").is_file():
        log(f"base root file system: cached ({where})")
        return where
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    start = time.monotonic()
    log(f"base root file system: mmdebstrap {base.suite} {','.join(base.packages)} (takes a minute or two)")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    run(
        [
            "mmdebstrap",
            "--quiet",
            "--mode=root",
            *base.mmdebstrap_args(),
            base.suite,
            str(where / "base.tar"),
            *base.mirrors(),
        ],
        env=env,
    )
    (where / "rootfs").mkdir()
    run(["tar", "-xpf", str(where / "base.tar"), "--numeric-owner", "-C", str(where / "rootfs")])
    (where / ".complete").touch()
    log(f"base root file system: done in {time.monotonic() - start:.0f}s")
    return where


def _account_lines(base: BaseDefinition) -> dict[str, bytes]:
    u, g = base.uid, base.gid
    return {
        "etc/passwd": f"{base.user}:x:{u}:{g}::{base.home}:{base.login_shell}\n".encode(),
        "etc/group": f"{base.user}:x:{g}:\n".encode(),
        "etc/shadow": f"{base.user}:!::0:99999:7:::\n".encode(),
        "etc/gshadow": f"{base.user}:!::\n".encode(),
    }


def build_base_layer(cache: Cache, base: BaseDefinition, refresh: bool) -> tuple[oci.Layer, Path]:
    """The hardened base layer: mmdebstrap's tree, minus shells/package managers, plus user 65532."""
    where = ensure_base_rootfs(cache, base, refresh)
    key = sha256_text(base_key(base), repr(base), BUILDER_VERSION, oci.file_sha256(Path(oci.__file__)))[:16]
    layer = cache.layer("drkit-base", key)
    if layer is not None:
        log("base layer: cached")
        return layer, where
    log("base layer: removing shells and package managers, adding the drkit user")
    start = time.monotonic()
    accounts = _account_lines(base)
    removed_targets: set[str] = set()
    with tarfile.open(where / "base.tar") as src, cache.layer_writer("drkit-base", key, "debian base") as out:
        members = {m.name.removeprefix("./").rstrip("/"): m for m in src.getmembers()}
        members.pop("", None)
        names = sorted(members)
        kept = {n for n in names if not base.removed(n)}
        removed_targets = set(names) - kept
        # the new directories go in their sorted place
        extra_dirs = dict(base.directories)
        for name in sorted([*kept, *(d for d in extra_dirs if d not in kept)]):
            if name not in members:
                owned = extra_dirs[name]
                out.add_dir(name, 0o755, base.uid if owned else 0, base.gid if owned else 0)
                continue
            _add_hardened(
                src, out, members[name], name, members=members, removed=removed_targets, accounts=accounts
            )
    assert out.layer is not None
    log(f"base layer: done in {time.monotonic() - start:.0f}s ({len(removed_targets)} paths removed)")
    return cache.keep_layer("drkit-base", key, out.layer), where


def _add_hardened(
    src: tarfile.TarFile,
    out: oci.LayerWriter,
    member: tarfile.TarInfo,
    name: str,
    *,
    members: dict[str, tarfile.TarInfo],
    removed: set[str],
    accounts: dict[str, bytes],
) -> None:
    """Copy one entry of mmdebstrap's tar: no setuid/setgid bits, the drkit user in the account files."""
    info = _copy_info(member, name)
    if info.isfile() or info.islnk():
        info.mode &= ~0o6000
    if info.islnk():
        target = info.linkname.removeprefix("./")
        if target in removed:
            # a hard link to something removed becomes a file of its own
            target_member = members[target]
            info.type = tarfile.REGTYPE
            info.linkname = ""
            info.size = target_member.size
            out.add(info, src.extractfile(target_member))
            return
        info.linkname = target
        out.add(info)
    elif name in accounts:
        data = src.extractfile(member)
        assert data is not None
        content = data.read()
        if not content.endswith(b"\n"):
            content += b"\n"
        content += accounts[name]
        info.size = len(content)
        out.add(info, io.BytesIO(content))
    elif info.isfile():
        out.add(info, src.extractfile(member))
    else:
        out.add(info)


def _copy_info(member: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = member.type
    info.mode = member.mode
    info.uid, info.gid = member.uid, member.gid
    info.mtime = int(member.mtime)
    info.size = member.size if member.isfile() else 0
    info.linkname = member.linkname
    info.devmajor, info.devminor = member.devmajor, member.devminor
    return info


# --- drkit: the venv and etcdutl ----------------------------------------------------------------------


def drkit_sources_key() -> str:
    h = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "setup.py", ROOT / "README.md"]
    files += sorted(
        p
        for p in (ROOT / "drkit").rglob("*")
        # .so: an editable build; target/: a Rust crate's cargo build (drkit/native/<crate>/target)
        if p.is_file() and "__pycache__" not in p.parts and "target" not in p.parts and p.suffix != ".so"
    )
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def etcdutl_is(etcdutl: Path, version: str) -> bool:
    if not etcdutl.is_file():
        return False
    out = run([str(etcdutl), "version"]).stdout
    return f"etcdutl version: {version.removeprefix('v')}" in out


def ensure_etcdutl(etcdutl: Path) -> None:
    """etcdutl at the pin of hack/testbin/versions.env: this checkout's testbin link is (re)made by
    hack/testbin/build.sh (a cache hit when `make testbin` has run); another path must already be it."""
    version = etcd_version()
    if etcdutl_is(etcdutl, version):
        return
    if etcdutl != DEFAULT_ETCDUTL:
        raise BuildError(f"{etcdutl}: missing or not etcdutl {version} (hack/testbin/versions.env)")
    log(f"etcdutl {version}: bash hack/testbin/build.sh etcd")
    result = subprocess.run(["bash", str(ROOT / "hack/testbin/build.sh"), "etcd"], check=False)
    if result.returncode != 0 or not etcdutl_is(etcdutl, version):
        raise BuildError(f"hack/testbin/build.sh etcd did not give etcdutl {version} at {etcdutl}")


def fetch_wheels(dest: Path) -> None:
    """drkit's wheel and the binary wheels of its dependencies, on the host (CPython 3.11 too).

    The dependencies are pinned to the versions installed in the Python that runs this build (the
    project's .venv under `make image`): the image ships what the tests ran against.
    """
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dest), str(ROOT)], env=env)
    wheels = list(dest.glob("drkit-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"pip wheel made {wheels}, not one drkit wheel")
    frozen = run([*pip, "list", "--format=freeze", "--exclude-editable"], env=env).stdout
    constraints = dest.parent / "constraints.txt"
    constraints.write_text(
        "".join(
            line + "\n" for line in frozen.splitlines() if not line.lower().startswith(("pip==", "drkit"))
        )
    )
    run(
        [
            *pip,
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(dest),
            "-c",
            str(constraints),
            str(wheels[0]),
        ],
        env=env,
    )


def chroot(rootfs: Path, *cmd: str) -> str:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "SOURCE_DATE_EPOCH": str(EPOCH),  # pip's byte-compiled files hash their source, not its time
        "PYTHONDONTWRITEBYTECODE": "1",  # nothing outside the venv is written
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
    }
    # the environment is the chroot's: find chroot itself on the host's PATH
    return run([shutil.which("chroot") or "/usr/sbin/chroot", str(rootfs), *cmd], env=env).stdout


def build_app_layer(cache: Cache, d: DrkitDefinition, base_dir: Path, etcdutl: Path) -> oci.Layer:
    """The venv with drkit (made by the base's own Python in a chroot, offline) and etcdutl."""
    version = etcd_version()
    key = sha256_text(
        base_key(d.base),
        repr(d),
        drkit_sources_key(),
        oci.file_sha256(etcdutl),
        BUILDER_VERSION,
        oci.file_sha256(Path(oci.__file__)),
    )[:16]
    layer = cache.layer("drkit-app", key)
    if layer is not None:
        log("drkit layer: cached (drkit's sources, pyproject.toml and etcdutl are unchanged)")
        return layer
    start = time.monotonic()
    rootfs = base_dir / "rootfs"
    venv = rootfs / d.venv.lstrip("/")
    wheels_in_root = rootfs / "tmp/drkit-wheels"
    with tempfile.TemporaryDirectory(prefix="drkit-image-") as tmp:
        work = Path(tmp)
        log("drkit layer: wheels of drkit and its dependencies (pip, on the host)")
        fetch_wheels(work / "wheels")
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(wheels_in_root, ignore_errors=True)
        try:
            shutil.copytree(work / "wheels", wheels_in_root)
            log(f"drkit layer: venv {d.venv} with the base's Python (chroot, no network)")
            chroot(rootfs, "/usr/bin/python3", "-m", "venv", d.venv)
            py = f"{d.venv}/bin/python"
            chroot(
                rootfs,
                py,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-index",
                "--find-links",
                "/tmp/drkit-wheels",  # noqa: S108 (in the chroot)
                "drkit",
            )
            chroot(rootfs, py, "-m", "pip", "uninstall", "--quiet", "--yes", *d.venv_uninstall)
            got = chroot(rootfs, f"{d.venv}/bin/drkit", "--version").strip()
            if drkit_version() not in got:
                raise BuildError(f"drkit --version in the image says {got!r}, not {drkit_version()}")
            # every module imports: the native wheels (cryptography, zstandard, blake3...) load here
            chroot(
                rootfs,
                py,
                "-c",
                "import importlib, pkgutil, drkit\n"
                "for m in pkgutil.walk_packages(drkit.__path__, 'drkit.'): importlib.import_module(m.name)",
            )
            shutil.move(str(venv), work / "venv")
        finally:
            shutil.rmtree(wheels_in_root, ignore_errors=True)
            shutil.rmtree(venv, ignore_errors=True)
        with cache.layer_writer("drkit-app", key, f"drkit {drkit_version()} venv, etcdutl {version}") as out:
            out.add_dir("opt")
            out.add_tree(work / "venv", d.venv.lstrip("/"))
            out.add_dir("usr")
            out.add_dir("usr/local")
            out.add_dir("usr/local/bin")
            with etcdutl.open("rb") as f:
                info = tarfile.TarInfo(d.etcdutl.lstrip("/"))
                info.size = etcdutl.stat().st_size
                info.mode = 0o755
                out.add(info, f)
    assert out.layer is not None
    log(f"drkit layer: done in {time.monotonic() - start:.0f}s")
    return cache.keep_layer("drkit-app", key, out.layer)


def drkit_config(d: DrkitDefinition) -> oci.ImageConfig:
    labels = dict(d.labels)
    labels["org.opencontainers.image.version"] = drkit_version()
    labels["io.drkit.etcd-version"] = etcd_version()
    return oci.ImageConfig(
        entrypoint=list(d.entrypoint),
        cmd=list(d.cmd),
        env=list(d.env),
        user=d.user,
        working_dir=d.workdir,
        labels=labels,
    )


def build_drkit(cache: Cache, out_dir: Path, etcdutl: Path, refresh: bool) -> Path:
    base_layer, base_dir = build_base_layer(cache, DRKIT.base, refresh)
    app_layer = build_app_layer(cache, DRKIT, base_dir, etcdutl)
    out = out_dir / "drkit.oci.tar"
    oci.write_archive(
        out,
        DRKIT.name,
        [base_layer, app_layer],
        drkit_config(DRKIT),
        epoch=EPOCH,
        architecture=architecture(),
    )
    return out


# --- testapp and pause: Debian's static busybox ------------------------------------------------------


def busybox_layer(cache: Cache, applets: bool) -> oci.Layer:
    if not BUSYBOX.is_file():
        raise BuildError(f"{BUSYBOX}: missing; install Debian's busybox-static (hack/system-deps.sh)")
    with BUSYBOX.open("rb") as f:
        dynamic = b"ld-linux" in f.read(4096)  # an ELF program interpreter: not a static binary
    if dynamic:
        raise BuildError(f"{BUSYBOX}: not statically linked; install Debian's busybox-static")
    kind = "testapp" if applets else "pause"
    key = sha256_text(kind, oci.file_sha256(BUSYBOX), BUILDER_VERSION, oci.file_sha256(Path(oci.__file__)))[
        :16
    ]
    layer = cache.layer(kind, key)
    if layer is not None:
        return layer
    links = sorted(run([str(BUSYBOX), "--list-full"]).stdout.split()) if applets else []
    dirs = {"bin", "etc", "tmp"} | {str(Path(p).parent) for p in links}
    dirs |= {str(p) for d in list(dirs) for p in Path(d).parents if str(p) != "."}
    entries: dict[str, tuple[str, Any]] = dict.fromkeys(dirs, ("dir", None))
    entries.update({p: ("link", "/bin/busybox") for p in links if p != "bin/busybox"})
    entries["bin/busybox"] = ("busybox", None)
    entries["etc/passwd"] = (
        "file",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    entries["etc/group"] = ("file", b"root:x:0:\nnogroup:x:65534:\n")
    with cache.layer_writer(kind, key, f"busybox-static ({kind})") as out:
        for name in sorted(entries):
            what, value = entries[name]
            if what == "dir":
                out.add_dir(name, 0o1777 if name == "tmp" else 0o755)
            elif what == "link":
                out.add_symlink(name, value)
            elif what == "file":
                out.add_bytes(name, value)
            else:
                with BUSYBOX.open("rb") as f:
                    info = tarfile.TarInfo(name)
                    info.size = BUSYBOX.stat().st_size
                    info.mode = 0o755
                    out.add(info, f)
    assert out.layer is not None
    return cache.keep_layer(kind, key, out.layer)


def build_testapp(cache: Cache, out_dir: Path) -> Path:
    out = out_dir / "testapp.oci.tar"
    config = oci.ImageConfig(
        cmd=["sh"],
        env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        labels={"org.opencontainers.image.title": "drkit test application (busybox)"},
    )
    oci.write_archive(
        out,
        TESTAPP_NAME,
        [busybox_layer(cache, applets=True)],
        config,
        epoch=EPOCH,
        architecture=architecture(),
    )
    return out


def build_pause(cache: Cache, out_dir: Path) -> Path:
    out = out_dir / "pause.oci.tar"
    config = oci.ImageConfig(
        entrypoint=list(PAUSE_ENTRYPOINT),
        user="65535:65535",
        labels={"org.opencontainers.image.title": "drkit pod sandbox (busybox sleep)"},
    )
    oci.write_archive(
        out,
        PAUSE_NAME,
        [busybox_layer(cache, applets=False)],
        config,
        epoch=EPOCH,
        architecture=architecture(),
    )
    return out


# --- main ---------------------------------------------------------------------------------------------


def check_host(images: list[str]) -> None:
    if "drkit" not in images:
        return
    if os.geteuid() != 0:
        raise BuildError("building the drkit image needs root (mmdebstrap and chroot); run it as root")
    needed = ["mmdebstrap", "chroot", "tar"]
    missing = [t for t in needed if shutil.which(t) is None]
    if missing:
        raise BuildError(f"missing tools: {', '.join(missing)} (run hack/system-deps.sh)")
    if not Path("/usr/share/mmdebstrap/hooks/merged-usr").is_dir():
        raise BuildError("mmdebstrap's merged-usr hook is missing (/usr/share/mmdebstrap/hooks)")
    if sys.version_info[:2] != (3, 11):
        raise BuildError(
            f"the wheels are fetched for the base's CPython 3.11; this is Python {platform.python_version()}"
        )


def archive_summary(path: Path) -> dict[str, Any]:
    with tarfile.open(path) as tar:
        index_file = tar.extractfile("index.json")
        assert index_file is not None
        index = json.load(index_file)
        desc = index["manifests"][0]
        manifest_file = tar.extractfile("blobs/sha256/" + desc["digest"].removeprefix("sha256:"))
        assert manifest_file is not None
        manifest = json.load(manifest_file)
    return {
        "name": desc["annotations"][oci.REF_NAME],
        "archive": str(path),
        "digest": desc["digest"],
        "size": path.stat().st_size,
        "layers": [layer["size"] for layer in manifest["layers"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", help="drkit, testapp, pause (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / ".testbin/images", help="where the archives go")
    parser.add_argument("--etcdutl", type=Path, default=DEFAULT_ETCDUTL, help="default: the testbin build")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(
            os.environ.get("DRKIT_IMAGE_CACHE")
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "drkit/images"
        ),
    )
    parser.add_argument(
        "--refresh-base", action="store_true", help="rebuild the Debian base (security updates)"
    )
    args = parser.parse_args(argv)
    images: list[str] = args.images or list(ALL_IMAGES)
    unknown = sorted(set(images) - set(ALL_IMAGES))
    if unknown:
        parser.error(f"unknown images {unknown}: choose from {', '.join(ALL_IMAGES)}")
    start = time.monotonic()
    try:
        check_host(images)
        cache = Cache(args.cache)
        built: list[Path] = []
        if "drkit" in images:
            ensure_etcdutl(args.etcdutl)
        with cache.locked():
            if "drkit" in images:
                built.append(build_drkit(cache, args.out, args.etcdutl, args.refresh_base))
            if "testapp" in images:
                built.append(build_testapp(cache, args.out))
            if "pause" in images:
                built.append(build_pause(cache, args.out))
    except BuildError as e:
        print(f"make image: {e}", file=sys.stderr)
        return 1
    summaries = [archive_summary(p) for p in built]
    (args.out / "images.json").write_text(json.dumps(summaries, indent=1) + "\n")
    log(f"built in {time.monotonic() - start:.0f}s; import with: ctr -n k8s.io images import ARCHIVE")
    for s in summaries:
        layers = " + ".join(f"{n / 1e6:.1f}" for n in s["layers"])
        rel = os.path.relpath(s["archive"], Path.cwd())
        print(f"{s['name']:24} {rel:34} {s['size'] / 1e6:6.1f} MB (layers {layers} MB) {s['digest'][:19]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
