"""The ranges every number drkit reads from a file or an option must fall in.

A value outside its range is a typo or an attack (a count of ``10**29``, a lock of ``99999y``), never a
wish: it is refused with a clear error instead of being carried until it overflows a date or a loop.
Durations have their own ceiling (:data:`drkit.config.durations.MAX_DURATION`, 100 years); the YAML
reader caps file size and node count (:mod:`drkit.config.yamlsource`).
"""

from __future__ import annotations

from datetime import timedelta

MAX_KEEP_COUNT = 100_000
"""The largest retention count (``keepDaily``, ``--keep-last`` ...). Above it, write ``unlimited``.
(100,000 hourly snapshots span more than 11 years.)"""

MIN_LOCK_RETENTION = timedelta(days=1)
"""The shortest Object Lock retention a repository or schedule may ask for. A shorter lock protects
against nothing; a repository without locks says so explicitly (``repo init --no-lock``)."""

MAX_UID = 2**31 - 1
"""The largest user or group id (Linux ``uid_t`` as Kubernetes accepts it)."""
