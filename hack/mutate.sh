#!/usr/bin/env bash
# make mutate: mutation testing (mutmut) of the modules where a silent bug loses or exposes data, with
# the unit tier as the test command; see docs/testing.md. Not part of .ci/run (too slow for it).
#
# Runs module by module, each bounded by MUTATE_TIMEOUT seconds (default 1800) and niced, from a
# clean mutants/ (the first module also runs the whole unit tier once to map tests to functions). A
# module cut short keeps the results it had and reports the rest as 'not run'.
# Each module's output goes to mutants/logs/MODULE.log; the report (per module: killed, survived,
# no tests, not run, score; every survivor by name) to mutants/report.md.
#
#   make mutate                                       # every module of [tool.mutmut] only_mutate
#   make mutate MUTATE_MODULES="drkit.secret drkit.repo.engine.prune" MUTATE_JOBS=2 MUTATE_TIMEOUT=600
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=.venv/bin
modules=${MUTATE_MODULES:-$("$BIN/python" hack/mutation_report.py --modules)}
jobs=${MUTATE_JOBS:-1}
limit=${MUTATE_TIMEOUT:-1800}
# Start clean: mutmut's incremental stats (tests added since the last run) fail with pytest's usage
# error on this suite, and naming a module reruns all of its mutants anyway.
[ "${MUTATE_KEEP:-0}" = 1 ] || rm -rf mutants
mkdir -p mutants/logs

set -f  # a pattern is not a file glob
for module in $modules; do
  # a module name gets all of its mutants; a name with a '*' is a mutmut pattern (some functions)
  case $module in *'*'*) pattern=$module ;; *) pattern="$module.*" ;; esac
  log=mutants/logs/$(printf %s "$module" | tr -c 'A-Za-z0-9._\n' '_').log
  printf '== %s: mutmut on %s (at most %ss, %s worker(s)); log %s\n' \
    "$(date -u +%H:%M:%S)" "$module" "$limit" "$jobs" "$log"
  # SIGINT lets mutmut stop its workers and keep what it has; KILL a minute later if it does not.
  timeout --signal=INT --kill-after=60 "$limit" nice -n 19 "$BIN/mutmut" run --max-children "$jobs" "$pattern" \
    >"$log" 2>&1
  case $? in
    0) ;;
    124) echo "   stopped after ${limit}s: its remaining mutants are 'not run'" ;;
    *) echo "   mutmut failed: see $log" ;;
  esac
done
"$BIN/python" hack/mutation_report.py --out mutants/report.md
echo "report: mutants/report.md"
