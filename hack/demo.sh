#!/usr/bin/env bash
# `make demo`: drkit's main job on embedded defaults (a local sandbox cluster, a local repository).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting the sandbox cluster (drkit sandbox up)"
drkit sandbox up
drkit sandbox status

say "done: stop the sandbox with 'make demo-down'"
