"""A Ctrl-C inside ``deferred_interrupts`` waits for the block to finish, then is raised."""

from __future__ import annotations

import os
import signal

import pytest

from drkit.drill.providers.base import deferred_interrupts


def _interrupted_block(done: list[str]) -> None:
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("recorded")


def test_the_block_completes_then_the_interrupt_is_raised() -> None:
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _interrupted_block(done)
    assert done == ["recorded"]


def test_no_interrupt_no_exception_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts():
        pass
    assert signal.getsignal(signal.SIGINT) is before
