"""Every `drkit ...` command line of the README and of docs/velero.md names a real command and only
options that command has: a quickstart that cannot run is a bug."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from drkit.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", ROOT / "docs" / "velero.md"]


def command_lines(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        lines += [ln.strip() for ln in block.splitlines() if ln.strip().startswith("drkit ")]
    lines += [m for m in re.findall(r"`(drkit [^`]+)`", text) if "\n" not in m]
    return [ln.split("  #", 1)[0].strip() for ln in lines]


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command ``words`` name, and the words after it."""
    command: click.Command = cli
    rest = words
    while isinstance(command, click.Group) and rest:
        sub = command.get_command(click.Context(command), rest[0])  # top-level commands load lazily
        if sub is None:
            break
        command, rest = sub, rest[1:]
    return command, rest


def options_of(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


CASES = [(page.name, line) for page in PAGES for line in command_lines(page)]


def test_the_pages_have_command_lines() -> None:
    assert len([c for c in CASES if c[0] == "README.md"]) >= 15
    assert len([c for c in CASES if c[0] == "velero.md"]) >= 12


@pytest.mark.parametrize(("page", "line"), CASES, ids=[f"{p}:{ln[:40]}" for p, ln in CASES])
def test_each_command_line_is_a_command_with_its_options(page: str, line: str) -> None:
    words = shlex.split(line.replace("\\|", "|"))[1:]
    command, rest = resolve(words)
    assert command is not cli, f"{page}: {line!r} names no drkit command"
    if isinstance(command, click.Group):
        assert not rest or rest[0].startswith("-"), f"{page}: {line!r}: no subcommand {rest[0]!r}"
        return
    known = options_of(command)
    used = {w.split("=", 1)[0] for w in rest if w.startswith("-")}
    assert used <= known, f"{page}: {line!r} uses {sorted(used - known)}, not options of {command.name}"
