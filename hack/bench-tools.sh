#!/usr/bin/env bash
# Install the pinned competitors that `make bench` (python -m bench) measures drkit against.
#
#   hack/bench-tools.sh [restic] [kopia] [borg] [py-spy] [time] [slowlink]
#                                            (default: time and the three competitors)
#
# Each tool goes into the git-ignored .bench/tools/<name>-<version>/ and is linked as
# .bench/tools/bin/<name>. A version already installed (a .complete stamp) is not rebuilt.
#   restic  Debian package, unpacked with dpkg-deb (no system install): a static Go binary
#   kopia   go install github.com/kopia/kopia@PIN, niced (a cold build takes several minutes)
#   borg    PyPI borgbackup==PIN in its own venv (built from source: needs a C compiler and the
#           dev headers below, which are installed with apt-get when missing)
#   py-spy  PyPI py-spy==PIN in its own venv: the sampling profiler docs/performance.md used on drkit
#   slowlink  bench/slowlink (Go, no dependencies): the delaying, rate-limiting TCP proxy of
#           `python -m bench.s3 --link`; its version is the hash of its source
#   time    GNU time (/usr/bin/time, Debian package `time`, apt-get when missing): bench/measure.py
#           reads each tool's own peak RSS from it (wait4 from the harness would include its own)
set -euo pipefail

RESTIC_DEB_VERSION="${RESTIC_DEB_VERSION:-0.14.0-1+b5}"   # Debian bookworm
KOPIA_VERSION="${KOPIA_VERSION:-v0.22.3}"                 # Go module
BORG_VERSION="${BORG_VERSION:-1.4.5}"                     # PyPI
PYSPY_VERSION="${PYSPY_VERSION:-0.4.3}"                   # PyPI

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${BENCH_TOOLS:-$root/.bench/tools}"
mkdir -p "$tools/bin"

log() { printf '[bench-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ensure NAME VERSION BINARY-PATH-IN-DEST VERSION-ARG: run install_NAME into a temporary dir, stamp, link
ensure() {
  local name="$1" version="$2" rel="$3" version_arg="$4"
  local dest="$tools/$name-$version"
  if [[ -f "$dest/.complete" ]]; then
    log "$name $version: cached ($dest)"
  else
    log "$name $version: installing into $dest"
    local start=$SECONDS
    rm -rf "$dest"; mkdir -p "$dest"   # in place (a venv cannot move); the stamp marks it complete
    "install_$name" "$dest" "$version"
    touch "$dest/.complete"
    log "$name $version: done in $((SECONDS - start)) s"
  fi
  ln -sfn "$dest/$rel" "$tools/bin/$name"
  "$tools/bin/$name" "$version_arg" 2>&1 | head -1 | sed "s/^/[bench-tools] /" >&2 || true
}

install_restic() {
  local dest="$1" version="$2" work
  work="$(mktemp -d)"
  if ! (cd "$work" && apt-get download "restic=$version" >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$work" && apt-get download "restic=$version")
  fi
  dpkg-deb -x "$work"/restic_*.deb "$dest"
  rm -rf "$work"
}

install_kopia() {
  # Built inside the downloaded module (its own go.mod and go.sum): `go install kopia@version` would
  # also ask the proxy for kopia's version list (deprecation check), which the proxy here refuses.
  local dest="$1" version="$2" dir
  export GOFLAGS="-buildvcs=false -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
  dir="$(go mod download -json "github.com/kopia/kopia@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" ]] || { log "kopia: go mod download gave no directory"; return 1; }
  (cd "$dir" && nice -n 19 go build -o "$dest/bin/kopia" \
    -ldflags "-X github.com/kopia/kopia/repo.BuildVersion=${version#v}" .)
}

install_borg() {
  local dest="$1" version="$2" missing=()
  for pkg in python3-dev python3-venv libssl-dev libacl1-dev liblz4-dev libzstd-dev libxxhash-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "borg: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  /usr/bin/python3 -m venv "$dest/venv"
  nice -n 19 "$dest/venv/bin/pip" install -q "borgbackup==$version"
}

install_py-spy() {
  local dest="$1" version="$2"
  /usr/bin/python3 -m venv "$dest/venv"
  "$dest/venv/bin/pip" install -q "py-spy==$version"
}

install_slowlink() {
  local dest="$1"
  (cd "$root/bench/slowlink" && GOFLAGS="-buildvcs=false -trimpath" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" \
    go build -o "$dest/bin/slowlink" .)
}

ensure_time() {
  if [[ -x /usr/bin/time ]]; then
    log "time: $(/usr/bin/time --version 2>&1 | head -1)"
  else
    log "time: apt-get install time"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  fi
}

want=("$@")
((${#want[@]})) || want=(time restic kopia borg)
for tool in "${want[@]}"; do
  case "$tool" in
    time) ensure_time ;;
    restic) ensure restic "$RESTIC_DEB_VERSION" usr/bin/restic version ;;
    kopia) ensure kopia "$KOPIA_VERSION" bin/kopia --version ;;
    borg) ensure borg "$BORG_VERSION" venv/bin/borg --version ;;
    py-spy) ensure py-spy "$PYSPY_VERSION" venv/bin/py-spy --version ;;
    slowlink) ensure slowlink "$(cat "$root"/bench/slowlink/*.go "$root"/bench/slowlink/go.mod | sha256sum | cut -c1-12)" \
      bin/slowlink -h ;;
    *) log "unknown tool: $tool (restic, kopia, borg, py-spy, time, slowlink)"; exit 2 ;;
  esac
done
