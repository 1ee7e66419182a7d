"""Mutation-testing report for `make mutate`: per module, how many mutants were killed, survived,
had no test, timed out or were not run yet, and the score (killed / run).

Reads mutmut's results from mutants/ (run from the repository root). The modules are the
``only_mutate`` list of ``[tool.mutmut]`` in pyproject.toml.

    python hack/mutation_report.py --modules      # the dotted module names, one a line
    python hack/mutation_report.py [--out FILE]   # the report (Markdown) on stdout and in FILE
"""

from __future__ import annotations

import argparse
import json
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# mutmut's exit codes (mutmut/stats.py): 1 and 3 killed, 0 survived, 5/33 no test, 36/24/152/255/-24
# timeout (SIGXCPU: a mutant that loops), 34 skipped, 37 caught by the type checker, None not run.
_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
           36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
           37: "killed", None: "not run"}  # fmt: skip
_COLUMNS = ("killed", "timeout", "survived", "no tests", "suspicious", "not run")


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return [p.removesuffix(".py").replace("/", ".") for p in config["only_mutate"]]


def counts(module: str, mutants: Path) -> tuple[Counter[str], list[str]]:
    meta = mutants / (module.replace(".", "/") + ".py.meta")
    tally: Counter[str] = Counter()
    survivors: list[str] = []
    if not meta.exists():
        return tally, survivors
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        status = _STATUS.get(code, "suspicious")
        tally[status] += 1
        if status in ("survived", "no tests", "suspicious"):
            survivors.append(f"{name} ({status})")
    return tally, sorted(survivors)


def report(mutants: Path) -> str:
    lines = [
        "# Mutation testing report (mutmut, unit tier)",
        "",
        "score = (killed + timeout) / (all run); a timeout is a mutant that made the tests hang (caught).",
        "",
        "| module | " + " | ".join(_COLUMNS) + " | score |",
        "|---" * (len(_COLUMNS) + 2) + "|",
    ]
    details: list[str] = []
    for module in modules():
        tally, survivors = counts(module, mutants)
        run = sum(n for status, n in tally.items() if status != "not run")
        caught = tally["killed"] + tally["timeout"]
        score = f"{100 * caught / run:.1f}%" if run else "not measured"
        lines.append(f"| {module} | " + " | ".join(str(tally[c]) for c in _COLUMNS) + f" | {score} |")
        if survivors:
            details += ["", f"## {module}", "", *(f"- {s}" for s in survivors)]
    lines += [
        "",
        "Show one mutant's diff with `.venv/bin/mutmut show NAME`.",
        *details,
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", action="store_true", help="print the modules under mutation")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's directory")
    args = parser.parse_args()
    if args.modules:
        print("\n".join(modules()))
        return
    text = report(args.mutants)
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
