"""Claims in the session cluster: nudging the volume controller to bind a new claim at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from drkit.sandbox import http
from drkit.sandbox.controlplane import ControlPlane


class Nudge:
    """The volume controller sometimes loses a race on a new claim (with the finalizer the protection
    controller adds) and binds it only at its next resync, 15 s later. A change to the claim's
    annotations makes it look again at once: done each second the claim is still unbound."""

    def __init__(self, touch: Callable[[], None], every_s: float = 1.0) -> None:
        self.touch, self.every_s = touch, every_s
        self.last = time.monotonic()

    def unless(self, done: bool) -> bool:
        if not done and time.monotonic() - self.last >= self.every_s:
            self.touch()
            self.last = time.monotonic()
        return done


def touch_claim(cluster: ControlPlane, path: str) -> None:
    claim = cluster.api("GET", path)
    claim["metadata"].setdefault("annotations", {})["drkit.test/nudged"] = str(time.time_ns())
    try:
        cluster.api("PUT", path, claim)
    except http.HTTPStatusError as exc:
        if exc.status != 409:  # changed meanwhile: that was a nudge too
            raise
