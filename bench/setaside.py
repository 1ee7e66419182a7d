"""Trees set aside during a bench run (restored trees, the tools' work directories) and deleted between runs.

Deleting files frees their inodes, and ext4 without a journal (the bench machine's disk) then passes
over each freed inode for a while when it allocates new ones: for every candidate it looks up the
inode table block and the inode's deletion time, from the start of the group again for every new
inode (``find_inode_bit`` and ``recently_deleted`` in the kernel's ``ialloc.c``): for 60 s after the
deletion, and for 6 minutes while the inode's table block is dirty, which the allocations of a
restore keep it. A restore of the 62,000-file source tree right after the previous tool's restored
tree was deleted took 30.3 s against 8.1 s without it (drkit, 2026-12-04; perf: 60% of the samples in
``recently_deleted`` under ``ext4_create``); the phase's runs went 8 / 50 / 35 s, whichever tool it
was. A user restores into an empty volume, not into one where thousands of files were just deleted.

So nothing is deleted between the steps of a run: trees are renamed into ``.bench/work/set-aside/``.
Between runs they are deleted, written out (``sync``) and :data:`SETTLE` seconds waited (measured: a
61 s wait still left each run's first restores of the source tree 2-3x slower, 18-30 s against 8-11 s),
so that the next run allocates inodes as if none had been freed; a bench started within that time
of another's deletions (its last run's trees, deleted when it ended) waits for the rest first. When
the disk has less than :data:`KEEP_FREE` left a tree is deleted at once instead, and the run's report
says how many were.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

KEEP_FREE = 10 * 2**30
"""Bytes the disk keeps free: below this a tree is deleted at once instead of set aside."""

SETTLE = 361.0
"""Seconds after the deletions before ext4 allocates past the freed inodes without a check (6 minutes
while an inode table block is dirty, and one more second)."""


class SetAside:
    """A directory of trees kept out of the way until :meth:`empty`."""

    def __init__(
        self, root: Path, keep_free: int = KEEP_FREE, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.root = root
        self.keep_free = keep_free
        self.sleep = sleep
        self.deleted_at_once = 0  # trees deleted between steps for want of room
        self._names = itertools.count()

    def put(self, tree: Path) -> bool:
        """Move ``tree`` out of the way (True), or delete it now when the disk is short of room (False)."""
        if not tree.exists():
            return True
        if shutil.disk_usage(tree).free < self.keep_free:
            shutil.rmtree(tree, ignore_errors=True)
            self.deleted_at_once += 1
            self._note_deletion()
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            dest = self.root / f"{next(self._names)}-{tree.name}"
            if not dest.exists():
                break
        tree.rename(dest)
        return True

    @property
    def stamp(self) -> Path:
        """When trees were last deleted (a bench that just ended deleted its own: the next one waits)."""
        return self.root.with_name(self.root.name + ".emptied")

    def _note_deletion(self) -> None:
        self.stamp.parent.mkdir(parents=True, exist_ok=True)
        self.stamp.write_text(f"{time.time():.3f}\n")

    def empty(self, *, settle: bool) -> None:
        """Delete every tree set aside (also what an interrupted bench left) and note when; with
        ``settle``, wait until :data:`SETTLE` seconds have passed since the last deletion (this one,
        or the one a bench that ended shortly before made), the deletions written out."""
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
            self._note_deletion()
        if not settle:
            return
        try:
            since = time.time() - float(self.stamp.read_text())
        except (OSError, ValueError):
            return  # nothing was ever deleted here
        if since < SETTLE:  # (a stamp from the future, a clock set back: one full wait at most)
            os.sync()
            self.sleep(min(SETTLE, SETTLE - since))
