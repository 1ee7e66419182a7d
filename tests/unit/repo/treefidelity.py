"""A tree with every kind of entry, and a view of it holding every field a restore must reproduce."""

# ruff: noqa: PTH109, PTH115, PTH118, PTH123
from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def fs_supports_user_xattrs(where: Path) -> bool:
    probe = where / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError:
        return False
    finally:
        probe.unlink()
    return True


def make_every_kind_tree(root: Path, *, outside: Path) -> Path:
    """Files (empty, small, multi-chunk, sparse), odd modes (setuid, setgid, sticky, read-only dir),
    hard links (three names; one more link outside the tree), symlinks (relative, dangling, absolute,
    pointing outside), empty dirs, a non-UTF-8 name, xattrs where supported, a FIFO and a socket
    (and, as root, a device and foreign owners), every mtime distinct."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "victim.txt").write_bytes(b"keep me\n")
    root.mkdir(parents=True)
    (root / "d1" / "d2" / "empty").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "empty.txt").write_bytes(b"")
    (root / "small.txt").write_bytes(b"small\n")
    (root / "big.bin").write_bytes(hashlib.sha256(b"seed").digest() * 10_000)
    (root / os.fsdecode(b"bad-\xff-name")).write_bytes(b"raw name")
    (root / "setuid").write_bytes(b"#!/bin/sh\n")
    (root / "setuid").chmod(0o4755)
    (root / "sgid").mkdir()
    (root / "sgid" / "inner").write_bytes(b"in sgid")
    (root / "sgid").chmod(0o2775)
    (root / "sticky").mkdir()
    (root / "sticky").chmod(0o1777)
    (root / "ro-dir").mkdir()
    (root / "ro-dir" / "inside").write_bytes(b"under a read-only dir")
    # hard links: three names in the tree, and a file whose other link is outside
    (root / "hl-a").write_bytes(b"one inode, three names\n" * 100)
    os.link(root / "hl-a", root / "d1" / "hl-b")
    os.link(root / "hl-a", root / "d1" / "d2" / "hl-c")
    (root / "lone-link").write_bytes(b"other link outside")
    os.link(root / "lone-link", outside / "other-link")
    # sparse: 8 MiB with three small data regions
    with (root / "sparse.img").open("wb") as f:
        f.truncate(8 * 1024 * 1024)
        for at in (0, 4 * 1024 * 1024, 8 * 1024 * 1024 - 4096):
            f.seek(at)
            f.write(b"\xab" * 4096)
    # symlinks
    (root / "rel-link").symlink_to("small.txt")
    (root / "dangling").symlink_to("nope/none")
    (root / "abs-link").symlink_to("/etc/passwd")
    (root / "out-link").symlink_to(outside)
    # special files
    os.mkfifo(root / "fifo")
    cwd = os.getcwd()
    os.chdir(root)  # socket paths are limited to ~108 bytes: bind by a short relative name
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("sock")
        s.close()
    finally:
        os.chdir(cwd)
    if AS_ROOT:
        os.mknod(root / "null-dev", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        os.chown(root / "small.txt", 12345, 54321)
        os.lchown(root / "rel-link", 23456, 65432)
        os.chown(root / "d1", 34567, 0)
    if fs_supports_user_xattrs(root):
        os.setxattr(root / "small.txt", "user.drkit.test", b"value\x00\xff")
        os.setxattr(root / "d1", "user.dir", b"on a dir")
        os.setxattr(root / "empty.txt", "user.empty", b"")
    t = 1_600_000_000_123_456_789
    for i, p in enumerate(sorted(root.rglob("*"), key=lambda p: -len(p.parts))):
        os.utime(p, ns=(t + 7 * i, t + 7 * i + 1), follow_symlinks=False)
    (root / "ro-dir").chmod(0o555)
    os.utime(root / "ro-dir", ns=(t, t + 3))
    os.utime(root, ns=(t - 5, t - 5))
    return root


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        return {
            n: os.getxattr(path, n, follow_symlinks=False) for n in os.listxattr(path, follow_symlinks=False)
        }
    except OSError:
        return {}


def fidelity_view(root: Path) -> dict[str, dict[str, object]]:
    """Per relative path: type, full mode, owner, size, mtime, content hash, link target, xattrs, the
    hard link group (first path with the same inode within the tree) and whether it has holes.
    Special files are left out (a backup skips them)."""
    out: dict[str, dict[str, object]] = {}
    first_of_inode: dict[int, str] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in [b"", *sorted(filenames + dirnames)] if dirpath == base else sorted(filenames + dirnames):
            full = os.path.join(dirpath, name) if name else dirpath
            st = os.lstat(full)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue
            rel = os.fsdecode(os.path.relpath(full, base))
            e: dict[str, object] = {
                "mode": oct(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
                "mtime_ns": st.st_mtime_ns,
            }
            if rel != ".":
                e["xattrs"] = _xattrs(os.fsdecode(full))
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    e["sha256"] = hashlib.sha256(f.read()).hexdigest()
                e["size"] = st.st_size
                e["holes"] = st.st_blocks * 512 < st.st_size
                e["link_group"] = first_of_inode.setdefault(st.st_ino, rel)
            out[rel] = e
    return out
