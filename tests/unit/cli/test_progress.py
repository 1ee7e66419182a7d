"""Progress: the core's counting sink, the log-line fallback, and the bars (only on a terminal)."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest
from rich.console import Console

from drkit.cli.progress import LogProgress, format_amount, make_progress
from drkit.cli.richprogress import RichProgress
from drkit.repo.engine.progress import CountingProgress, NullProgress, PhaseRecord, Progress, phase

# Any C0 control character except newline and tab, plus DEL and the C1 CSI: what bars leave behind.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


def test_counting_progress_records_phases() -> None:
    progress = CountingProgress()
    progress.start("scan", None, "files")
    progress.advance(3)
    progress.advance(0)
    progress.start("upload", 100)  # closes "scan"
    progress.advance(60)
    assert progress.phases == [
        PhaseRecord("scan", None, "files", 3, finished=True),
        PhaseRecord("upload", 100, "B", 60, finished=False),
    ]
    progress.done()
    progress.done()  # idempotent
    assert progress.phases[-1] == PhaseRecord("upload", 100, "B", 60, finished=True)
    assert progress.count("scan") == 3
    assert progress.count("missing") == 0


def test_counting_progress_is_thread_safe() -> None:
    progress = CountingProgress()
    progress.start("chunks", 8 * 5000, "chunks")
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(5000):
            progress.advance(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    progress.done()
    assert progress.count("chunks") == 8 * 5000


def test_counting_progress_catches_misuse() -> None:
    progress = CountingProgress()
    with pytest.raises(RuntimeError, match="no phase started"):
        progress.advance(1)
    progress.start("x", 1)
    with pytest.raises(ValueError, match="backwards"):
        progress.advance(-1)
    lenient = CountingProgress(strict=False)
    lenient.advance(5)
    assert lenient.phases == []


def _fail_midway(progress: Progress) -> None:
    with phase(progress, "restore", 10) as p:
        p.advance(4)
        raise KeyError("boom")


def test_phase_context_closes_on_error() -> None:
    progress = CountingProgress()
    with pytest.raises(KeyError):
        _fail_midway(progress)
    assert progress.phases == [PhaseRecord("restore", 10, "B", 4, finished=True)]


def _report(progress: Progress) -> None:
    with phase(progress, "work", 2, "items"):
        progress.advance(2)


def test_implementations_satisfy_the_protocol() -> None:
    # The annotations are the check (mypy --strict runs on this file); NullProgress accepts calls.
    sinks: list[Progress] = [NullProgress(), CountingProgress(), LogProgress(), RichProgress()]
    counting = CountingProgress()
    for sink in (sinks[0], counting):
        _report(sink)
    assert counting.phases == [PhaseRecord("work", 2, "items", 2, finished=True)]


@pytest.mark.parametrize(
    ("n", "unit", "text"),
    [
        (0, "B", "0 B"),
        (1023, "B", "1023 B"),
        (1536, "B", "1.5 KiB"),
        (3 * 1024**3, "B", "3.0 GiB"),
        (2 * 1024**6, "B", "2048.0 PiB"),
        (12, "files", "12 files"),
        (12345, "objects", "12,345 objects"),
        (2.5, "files", "2.5 files"),
    ],
)
def test_format_amount(n: float, unit: str, text: str) -> None:
    assert format_amount(n, unit) == text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    logger = logging.getLogger("drkit.test.progress")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep(level=logging.DEBUG)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield seen
    logger.removeHandler(handler)


def test_log_progress_one_info_line_per_phase(records: list[logging.LogRecord]) -> None:
    clock = FakeClock()
    progress = LogProgress(logging.getLogger("drkit.test.progress"), clock)
    progress.start("upload", 4 * 1024**2)
    progress.advance(1024**2)
    progress.advance(3 * 1024**2)
    clock.now += 2.0
    progress.start("scan", None, "files")  # closes "upload"
    progress.advance(30)
    clock.now += 3.0
    progress.done()
    progress.start("verify", 10, "packs")
    progress.advance(4)
    clock.now += 1.0
    progress.done()
    progress.done()  # nothing open: no line
    info = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert info == [
        "upload: 4.0 MiB in 2.0s, 2.0 MiB/s",
        "scan: 30 files in 3.0s, 10 files/s",
        "verify: 4 packs of 10 packs in 1.0s, 4 packs/s",
    ]
    assert all(not CONTROL.search(m) for m in info)


def test_log_progress_zero_elapsed_has_no_rate(records: list[logging.LogRecord]) -> None:
    progress = LogProgress(logging.getLogger("drkit.test.progress"), FakeClock())
    progress.start("index", 0, "files")
    progress.done()
    assert [r.getMessage() for r in records if r.levelno == logging.INFO] == ["index: 0 files in 0.0s"]


def test_make_progress_picks_log_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    assert isinstance(make_progress(None, stream=stream), LogProgress)
    assert isinstance(make_progress(True, stream=stream), LogProgress)
    assert isinstance(make_progress(False, stream=stream), LogProgress)


def test_make_progress_picks_bars_only_on_a_terminal() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert tty.isatty()
            assert isinstance(make_progress(None, stream=tty), RichProgress)
            assert isinstance(make_progress(True, stream=tty), RichProgress)
            assert isinstance(make_progress(False, stream=tty), LogProgress)
    finally:
        os.close(slave)
        os.close(master)


def test_rich_progress_draws_bars_with_rate_and_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    progress = RichProgress(console)
    progress.start("upload", 2 * 1024**2)
    progress.advance(1024**2)
    progress.advance(1024**2)
    progress.start("scan", None, "files")
    progress.advance(7)
    progress.done()
    progress.done()
    progress.advance(1)  # after done: ignored, not an error
    text = out.getvalue()
    assert "upload" in text
    assert "2.0/2.0 MiB" in text
    assert "scan" in text
    assert "7/7" in text
    assert "files" in text
    assert "\x1b[" in text  # it did draw (cursor control) on the forced terminal


def test_non_tty_stderr_gets_log_lines_and_no_control_codes() -> None:
    # A real process whose stderr is a pipe: what a CI log or `2>file` sees.
    script = textwrap.dedent(
        """
        from drkit.cli import logsetup
        from drkit.cli.progress import LogProgress, make_progress

        logsetup.configure("info", "text")
        for enabled in (None, True):
            progress = make_progress(enabled)
            assert isinstance(progress, LogProgress), progress
            progress.start("upload", 3 * 1024 * 1024)
            for _ in range(3):
                progress.advance(1024 * 1024)
            progress.start("scan", None, "files")
            progress.advance(12)
            progress.done()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "FORCE_COLOR"} | {"TERM": "xterm-256color"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 4, result.stderr
    assert sum("drkit.progress: upload: 3.0 MiB in " in line for line in lines) == 2
    assert sum("drkit.progress: scan: 12 files in " in line for line in lines) == 2
    assert not CONTROL.search(result.stderr), repr(result.stderr)


def test_phase_messages_go_above_the_bars_or_to_stderr_or_to_the_log(
    capsys: pytest.CaptureFixture[str], records: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from drkit.cli.progress import phase_printer

    out = io.StringIO()
    bars = RichProgress(Console(file=out, force_terminal=True, width=100, color_system=None))
    bars.start("etcd", None)
    phase_printer(bars, None)("etcd: streaming a snapshot from https://127.0.0.1:2379")
    bars.advance(4096)
    bars.done()
    assert "etcd: streaming a snapshot from https://127.0.0.1:2379" in out.getvalue()
    assert "etcd" in out.getvalue().split("streaming", 1)[1]  # the bar goes on below the message

    quiet = logging.getLogger("drkit.test.progress.quiet")
    quiet.setLevel(logging.WARNING)  # the default --log-level
    monkeypatch.setattr(quiet, "propagate", False)
    lines = LogProgress()
    phase_printer(lines, None, quiet)("resources: 12 objects of 3 resource types")  # no terminal: stderr
    assert capsys.readouterr().err == "drkit: resources: 12 objects of 3 resource types\n"
    chatty = logging.getLogger("drkit.test.progress")  # --log-level info: the log has the line already
    monkeypatch.setattr(chatty, "propagate", False)  # kept by the fixture's handler only
    phase_printer(lines, None, chatty)("volumes: 1 selected")
    phase_printer(lines, False, quiet)("volumes: 2 selected")  # --no-progress: only the log (quiet here)
    assert capsys.readouterr().err == ""
    assert [r.getMessage() for r in records if r.levelno == logging.INFO] == ["volumes: 1 selected"]
