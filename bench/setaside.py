"""Restored trees set aside until the bench ends, instead of deleted between steps.

Deleting a restored tree frees its inodes, and ext4 (at least without a journal, as on the bench
machine's disk) then skips each freed inode for a while when it allocates new ones: for every
candidate it looks up the inode table block and its deletion time (``recently_deleted`` in the
kernel's ``ialloc.c``: 60 s after the block is written, 5 minutes while it is dirty). The next tool's
restore of the 62,000-file source tree paid for the previous tool's deletion: 30.3 s against 8.1 s
into the same disk without it (drkit, 2026-12-04, perf: 60% of the samples in ``recently_deleted``
under ``ext4_create``), and the phase's every-run times went 8 / 50 / 35 s. A user restores into an
empty volume, not into one where 62,000 files were just deleted: the trees are renamed into
``.bench/work/set-aside/`` and deleted when the bench has finished, while the disk keeps room
(``keep_free``); past that a tree is deleted at once, and the run's report says so.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

KEEP_FREE = 0.2
"""The fraction of the disk left free: a tree that would leave less is deleted at once instead."""


class SetAside:
    """A directory of trees kept out of the way until :meth:`empty`."""

    def __init__(self, root: Path, keep_free: float = KEEP_FREE) -> None:
        self.root = root
        self.keep_free = keep_free
        self.deleted_at_once = 0  # trees deleted between steps for want of room
        self._names = itertools.count()

    def put(self, tree: Path) -> bool:
        """Move ``tree`` out of the way (True), or delete it now when the disk is short of room (False)."""
        if not tree.exists():
            return True
        usage = shutil.disk_usage(tree)
        if usage.free < usage.total * self.keep_free:
            shutil.rmtree(tree, ignore_errors=True)
            self.deleted_at_once += 1
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            dest = self.root / f"{next(self._names)}-{tree.name}"
            if not dest.exists():
                break
        tree.rename(dest)
        return True

    def empty(self) -> None:
        """Delete every tree set aside (also what an interrupted bench left)."""
        shutil.rmtree(self.root, ignore_errors=True)
