"""Deterministic benchmark datasets: a mixed tree (~2 GiB at scale 1) and a small-files tree (200k files).

Every byte and every mtime follows from the scale and a fixed seed, so two runs (or two machines) back up
the same tree. Each file of the mixed tree has its own random generator (seeded by its path), so that a
file changed by ``mutate`` can be put back alone. A stamp beside each tree records what was generated and
what was mutated; ``ensure`` regenerates only what is missing or changed.

Contents:
- compressible data: lines drawn at random from a pool of log-like lines (zstd-3 compresses it ~3-4x,
  with no repeated chunk-sized runs, so it compresses but does not deduplicate);
- incompressible data: random bytes;
- duplicates: exact copies of some random and medium files (deduplication finds them).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import stat
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GENERATOR_VERSION = 1
SEED = "drkit-bench"
MTIME = 1_767_225_600  # 2026-01-01T00:00:00Z: every generated file and directory
MUTATED_MTIME = MTIME + 86_400
KIB = 1024
MIB = 1024 * KIB

_WORDS = (
    *("reconcile", "object", "namespace", "pod", "node", "lease", "volume", "claim", "snapshot", "etcd"),
    *("revision", "watch", "list", "apply", "controller", "scheduler", "kubelet", "container", "image"),
    *("pull", "started", "finished", "error", "warning", "retry", "backoff", "timeout", "deadline"),
    *("request", "response", "status", "ready", "pending", "running", "succeeded", "failed", "deleted"),
)
_LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")


@dataclass(frozen=True)
class FileSpec:
    """One file: where, how big, and what kind of content (or a copy of another file)."""

    path: str
    size: int
    kind: str  # "text" | "random" | "copy"
    source: str = ""  # for kind == "copy"


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def mixed_specs(scale: float) -> list[FileSpec]:
    """The mixed tree: ~2 GiB at scale 1 (large compressible, random, many medium files, duplicates)."""
    rng = random.Random(f"{SEED}:mixed-layout")
    specs: list[FileSpec] = []
    large = max(64 * KIB, int(192 * MIB * scale))
    specs += [FileSpec(f"large/log-{i:02d}.txt", large, "text") for i in range(4)]
    blob = max(64 * KIB, int(64 * MIB * scale))
    specs += [FileSpec(f"random/blob-{i:02d}.bin", blob, "random") for i in range(6)]
    medium: list[FileSpec] = []
    for i in range(max(10, round(2900 * scale))):
        kind = "text" if rng.random() < 0.7 else "random"
        ext = "txt" if kind == "text" else "bin"
        medium.append(
            FileSpec(f"medium/d{i % 48:02d}/f{i:05d}.{ext}", _log_uniform(rng, 16 * KIB, MIB), kind)
        )
    specs += medium
    specs.append(FileSpec("dup/blob-00.copy", blob, "copy", "random/blob-00.bin"))
    for j, m in enumerate(medium[: max(2, len(medium) // 15)]):
        specs.append(FileSpec(f"dup/medium/{j:05d}-{Path(m.path).name}", m.size, "copy", m.path))
    return specs


def small_count(scale: float) -> int:
    return max(100, round(200_000 * scale))


class _LinePool:
    """A few thousand log-like lines; compressible content is a random sequence of them."""

    def __init__(self) -> None:
        rng = random.Random(f"{SEED}:lines")
        self.lines: list[bytes] = []
        for i in range(8192):
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
            line = (
                f"2026-01-01T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}."
                f"{rng.randint(0, 999):03d}Z {rng.choice(_LEVELS):5} {words} id={rng.getrandbits(40):010x} "
                f"n={i}\n"
            )
            self.lines.append(line.encode())

    def text(self, rng: random.Random, size: int) -> bytes:
        out = bytearray()
        mask = len(self.lines) - 1
        while len(out) < size:
            n = (size - len(out)) // 40 + 16  # lines are 60-120 bytes: never many rounds
            picks = memoryview(rng.randbytes(2 * n)).cast("H")
            out += b"".join(self.lines[p & mask] for p in picks)
        return bytes(out[:size])


_POOL: _LinePool | None = None


def _pool() -> _LinePool:
    global _POOL  # noqa: PLW0603 - built once per process, on first use
    if _POOL is None:
        _POOL = _LinePool()
    return _POOL


def _content(kind: str, rng: random.Random, size: int) -> Iterator[bytes]:
    step = 8 * MIB
    for off in range(0, size, step):
        n = min(step, size - off)
        yield rng.randbytes(n) if kind == "random" else _pool().text(rng, n)


def _write(path: Path, parts: Iterator[bytes], mtime: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for part in parts:
            f.write(part)
    os.utime(path, (mtime, mtime))


def _write_spec(root: Path, spec: FileSpec) -> None:
    target = root / spec.path
    if spec.kind == "copy":
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / spec.source, target)
        os.utime(target, (MTIME, MTIME))
    else:
        _write(target, _content(spec.kind, random.Random(f"{SEED}:{spec.path}"), spec.size), MTIME)


def _fix_dir_mtimes(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        os.utime(dirpath, (MTIME, MTIME))


def _stamp_path(root: Path) -> Path:
    return root.with_name(root.name + ".json")


def _read_stamp(root: Path) -> dict[str, object]:
    try:
        data = json.loads(_stamp_path(root).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamp(root: Path, stamp: dict[str, object]) -> None:
    _stamp_path(root).write_text(json.dumps(stamp, indent=1, sort_keys=True))


def ensure_mixed(root: Path, scale: float) -> list[FileSpec]:
    """Make ``root`` hold exactly the mixed tree of ``scale`` (generated, or repaired after a mutation)."""
    specs = mixed_specs(scale)
    want = {"generator": GENERATOR_VERSION, "scale": scale, "kind": "mixed"}
    stamp = _read_stamp(root)
    if {k: stamp.get(k) for k in want} == want and root.is_dir():
        mutated = stamp.get("mutated") or []
        if mutated:
            by_path = {s.path: s for s in specs}
            for rel in mutated if isinstance(mutated, list) else []:
                if rel in by_path:
                    _write_spec(root, by_path[rel])
                else:
                    (root / rel).unlink(missing_ok=True)
            shutil.rmtree(root / "added", ignore_errors=True)
            _fix_dir_mtimes(root)
            _write_stamp(root, {**want, "mutated": []})
        return specs
    shutil.rmtree(root, ignore_errors=True)
    _stamp_path(root).unlink(missing_ok=True)
    for spec in sorted(specs, key=lambda s: s.kind == "copy"):  # sources before their copies
        _write_spec(root, spec)
    _fix_dir_mtimes(root)
    _write_stamp(root, {**want, "mutated": []})
    return specs


def mutate(root: Path, specs: list[FileSpec], fraction: float = 0.01) -> int:
    """Change ``fraction`` of the mixed tree's bytes; returns the bytes written.

    40% as in-place edits inside the large compressible files, 40% as rewritten medium files, 20% as a
    new file. Changed files get a later mtime. The stamp records them so ``ensure_mixed`` can undo it.
    """
    rng = random.Random(f"{SEED}:mutate")
    budget = int(sum(s.size for s in specs) * fraction)
    written = 0
    changed: list[str] = []
    large = [s for s in specs if s.path.startswith("large/")]
    region = max(1, int(budget * 0.4) // (2 * len(large)))
    for spec in large:
        path = root / spec.path
        with path.open("r+b") as f:
            for _ in range(2):
                f.seek(rng.randrange(0, max(1, spec.size - region)))
                f.write(_pool().text(rng, region))
                written += region
        os.utime(path, (MUTATED_MTIME, MUTATED_MTIME))
        changed.append(spec.path)
    medium = [s for s in specs if s.path.startswith("medium/")]
    rng.shuffle(medium)
    rewritten = 0
    for spec in medium:
        if rewritten >= budget * 0.4:
            break
        _write(root / spec.path, _content(spec.kind, rng, spec.size), MUTATED_MTIME)
        rewritten += spec.size
        changed.append(spec.path)
    written += rewritten
    added = max(1, budget - written)
    _write(root / "added" / "new-00.bin", _content("random", rng, added), MUTATED_MTIME)
    written += added
    stamp = _read_stamp(root)
    _write_stamp(root, {**stamp, "mutated": changed})
    return written


def ensure_small(root: Path, scale: float) -> int:
    """Make ``root`` hold the small-files tree of ``scale`` (64 B - 4 KiB text files, 500 per directory)."""
    count = small_count(scale)
    want = {"generator": GENERATOR_VERSION, "scale": scale, "kind": "small"}
    stamp = _read_stamp(root)
    if {k: stamp.get(k) for k in want} == want and root.is_dir():
        return count
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(f"{SEED}:small")
    blob = _pool().text(rng, 4 * MIB)
    for i in range(count):
        d = root / f"d{i // 500:04d}"
        if i % 500 == 0:
            d.mkdir(parents=True)
        size = _log_uniform(rng, 64, 4096)
        off = rng.randrange(0, len(blob) - size)
        p = d / f"f{i:06d}.txt"
        p.write_bytes(blob[off : off + size])
        os.utime(p, (MTIME, MTIME))
    _fix_dir_mtimes(root)
    _write_stamp(root, want)
    return count


def tree_stats(root: Path) -> tuple[int, int]:
    """(files, bytes) of a tree, symlinks not followed."""
    files = total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))  # noqa: PTH118 - os.walk gives str paths
            files += 1
            total += st.st_size
    return files, total


def tree_digest(root: Path) -> str:
    """SHA-256 over every regular file's relative path, size, mtime (seconds) and contents, in path order.

    Used to check that a restore gave back the tree that was backed up (directory mtimes are left out:
    not every tool restores them).
    """
    h = hashlib.sha256()
    entries: list[tuple[str, str]] = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            full = os.path.join(dirpath, name)  # noqa: PTH118 - os.walk gives str paths
            entries.append((os.path.relpath(full, root), full))
    for rel, full in sorted(entries):
        st = os.lstat(full)
        h.update(f"{rel}\0{st.st_size}\0{int(st.st_mtime)}\0".encode())
        with open(full, "rb") as f:  # noqa: PTH123
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def warm(root: Path) -> None:
    """Read every file once so that each tool starts from the same (warm) page cache."""
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:  # noqa: PTH118, PTH123
                while f.read(MIB):
                    pass


def settle() -> float:
    """Write every dirty page back to the disk (``sync``); returns the seconds it took.

    Before a timed step: a tool that leaves its repository's writes in the page cache (kopia's
    filesystem storage calls no ``fsync``: strace of a first backup of the mixed tree) would otherwise
    have them written back during the next tool's timed step, which then waits for that disk traffic
    on its own flushes. After a timed step: how long the writes the tool left unwritten take to reach
    the disk, reported beside its wall time (a tool that fsyncs its objects leaves next to nothing)."""
    start = time.monotonic()
    os.sync()
    return time.monotonic() - start


# --- the real source tree: the Python standard library and site-packages, copied from this machine ---

SOURCE_VERSION = 1
SOURCE_FILES = 62_000  # about what the standard library (with its tests and __pycache__) + site-packages hold


def source_origins() -> list[Path]:
    """Where the real source tree is copied from: this interpreter's standard library and site-packages."""
    paths = sysconfig.get_paths()
    return [Path(paths["stdlib"]), Path(paths["purelib"])]


def _source_files(origins: list[Path]) -> list[tuple[Path, str]]:
    """(origin file, relative path in the copy) of every regular file, in a stable order (symlinks and
    special files are left out: a restore check reads every file)."""
    out: list[tuple[Path, str]] = []
    for i, origin in enumerate(origins):
        top = f"{i}-{origin.name}"
        for dirpath, dirs, names in os.walk(origin):
            dirs.sort()
            rel_dir = os.path.relpath(dirpath, origin)
            for name in sorted(names):
                full = os.path.join(dirpath, name)  # noqa: PTH118 - os.walk gives str paths
                if not stat.S_ISREG(os.lstat(full).st_mode):
                    continue
                rel = os.path.normpath(os.path.join(top, rel_dir, name))  # noqa: PTH118
                out.append((Path(full), rel))
    return out


def ensure_source(root: Path, scale: float, origins: list[Path] | None = None) -> int:
    """Make ``root`` a copy of a real source tree (``origins``, default: the standard library and
    site-packages of this Python): at scale 1 every file (~60k files in ~10k directories, ~1 GiB), at a
    smaller scale the first ``scale`` share of them in walk order. Files keep their own mtimes (a real
    tree's spread). Copied once, then reused; a mutation recorded in the stamp is undone. Returns the
    number of files."""
    origins = origins if origins is not None else source_origins()
    want = {"generator": SOURCE_VERSION, "scale": scale, "kind": "source"}
    stamp = _read_stamp(root)
    if {k: stamp.get(k) for k in want} == want and root.is_dir():
        _undo_source_mutation(root, stamp)
        files = stamp.get("files")
        return files if isinstance(files, int) else 0
    shutil.rmtree(root, ignore_errors=True)
    _stamp_path(root).unlink(missing_ok=True)
    files = _source_files(origins)
    files = files[: max(100, round(len(files) * scale))] if scale < 1 else files
    copied = 0
    for origin, rel in files:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(origin, target)
        except OSError:  # unreadable or vanished: a real tree may have such files; leave it out
            continue
        copied += 1
    _write_stamp(root, {**want, "files": copied, "origins": [str(o) for o in origins], "mutated": {}})
    return copied


def mutate_source(root: Path, fraction: float = 0.01) -> int:
    """Change ``fraction`` of the source tree's files (chosen by a fixed seed): a line appended to each,
    with a later mtime. The stamp records each file's size and mtime so ``ensure_source`` can undo it.
    Returns the number of files changed."""
    files = sorted(
        os.path.relpath(os.path.join(d, n), root)  # noqa: PTH118
        for d, _dirs, names in os.walk(root)
        for n in names
    )
    rng = random.Random(f"{SEED}:source-mutate")
    chosen = rng.sample(files, max(1, round(len(files) * fraction)))
    mutated: dict[str, list[int]] = {}
    for rel in sorted(chosen):
        path = root / rel
        st = path.stat()
        mutated[rel] = [st.st_size, st.st_mtime_ns]
        with path.open("ab") as f:
            f.write(f"# drkit bench: changed {rel}\n".encode())
        os.utime(path, (MUTATED_MTIME, MUTATED_MTIME))
    stamp = _read_stamp(root)
    _write_stamp(root, {**stamp, "mutated": mutated})
    return len(mutated)


def _undo_source_mutation(root: Path, stamp: dict[str, object]) -> None:
    mutated = stamp.get("mutated")
    if not isinstance(mutated, dict) or not mutated:
        return
    for rel, (size, mtime_ns) in mutated.items():
        path = root / rel
        os.truncate(path, size)
        os.utime(path, ns=(mtime_ns, mtime_ns))
    _write_stamp(root, {**stamp, "mutated": {}})
