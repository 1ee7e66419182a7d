"""File metadata beyond ``lstat``: owner names, extended attributes, holes.

Reading is best effort and never follows symlinks; a filesystem without xattrs simply has none.
Writing reports failures as strings (the restore collects them as warnings) instead of raising.
"""

# Paths here are bytes (names need not be UTF-8), which pathlib cannot hold: os functions on purpose.

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from functools import lru_cache
from typing import Protocol

_NO_XATTRS = frozenset({errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA, errno.EPERM, errno.EACCES})

Xattrs = tuple[tuple[str, bytes], ...]


class Stat(Protocol):
    """The ``lstat`` fields a backup walk reads: ``os.stat_result`` has them, and so has what the
    compiled lister (``drkit.native._walk``) gives for an entry."""

    @property
    def st_mode(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_dev(self) -> int: ...
    @property
    def st_nlink(self) -> int: ...
    @property
    def st_uid(self) -> int: ...
    @property
    def st_gid(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_blocks(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_ctime_ns(self) -> int: ...


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def uid_of(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def gid_of(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def read_xattrs(path: bytes | int) -> tuple[Xattrs, str | None]:
    """The extended attributes of ``path`` (not followed) or of an open fd, sorted; and an error, if any.

    Attributes that vanish or may not be read are left out; a filesystem without support has none.
    """
    if not hasattr(os, "listxattr"):
        return (), None
    try:
        names = os.listxattr(path, follow_symlinks=False) if isinstance(path, bytes) else os.listxattr(path)
    except OSError as e:
        if e.errno in _NO_XATTRS:
            return (), None
        return (), f"cannot list xattrs: {e.strerror}"
    if not names:
        return (), None
    out: list[tuple[str, bytes]] = []
    for name in sorted(names):
        try:
            if isinstance(path, bytes):
                value = os.getxattr(path, name, follow_symlinks=False)
            else:
                value = os.getxattr(path, name)
        except OSError as e:
            if e.errno in _NO_XATTRS:
                continue
            return tuple(out), f"cannot read xattr {name}: {e.strerror}"
        out.append((name, value))
    return tuple(out), None


def write_xattrs(target: bytes | int, attrs: Xattrs) -> list[str]:
    """Set ``attrs`` on a path (not followed) or an open fd; one message per attribute that failed."""
    problems: list[str] = []
    if not attrs:
        return problems
    if not hasattr(os, "setxattr"):
        return [f"xattrs not supported on this platform ({len(attrs)} not restored)"]
    for name, value in attrs:
        try:
            if isinstance(target, bytes):
                os.setxattr(target, name, value, follow_symlinks=False)
            else:
                os.setxattr(target, name, value)
        except OSError as e:
            problems.append(f"cannot set xattr {name}: {e.strerror}")
    return problems


def looks_sparse(st: Stat) -> bool:
    """Whether a regular file occupies fewer blocks than its size needs (it has holes)."""
    blocks = getattr(st, "st_blocks", None)
    return stat.S_ISREG(st.st_mode) and blocks is not None and blocks * 512 < st.st_size


def is_zero(data: bytes) -> bool:
    """Whether ``data`` is all zero bytes (a chunk a sparse restore leaves as a hole)."""
    n = len(data)
    return n == 0 or (data[0] == 0 and data[-1] == 0 and data.count(0) == n)
