#!/usr/bin/env bash
# `make demo`: drkit's main job on embedded defaults, the whole story -- a local sandbox cluster
# with a sample application and its data, backed up (etcd + every API resource + the volume) into
# a local encrypted repository, backed up again (only changes stored), verified byte for byte,
# then a DR drill: the backup restored into a second, fresh scratch cluster and checked there.
# Everything lives under .demo/ and .sandbox/ (git-ignored); run it again to add more snapshots.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

demo="$PWD/.demo"
mkdir -p "$demo"
export DRKIT_REPO="$demo/repo"
export DRKIT_KEY_FILE="$demo/drkit.key"
export KUBECONFIG="$PWD/.sandbox/cluster/kubeconfig"
kubectl="$PWD/.testbin/bin/kubectl"

say "1. a local sandbox cluster: etcd, kube-apiserver, controller-manager, scheduler, a real node, MinIO"
# A real node (containerd + kubelet) runs the application's containers; it needs root and the images
# (`make image`). Without them the demo falls back to kwok nodes, whose pods run no containers.
real_nodes=()
if [[ -n "${DRKIT_DEMO_KWOK:-}" ]]; then
  echo "DRKIT_DEMO_KWOK is set: kwok nodes only"
  drkit sandbox up
elif [[ $(id -u) -ne 0 ]]; then
  echo "not root: real nodes need root (containerd, runc, a bridge); falling back to kwok nodes, whose pods run no containers"
  drkit sandbox up
elif drkit sandbox up --real-nodes 1 --nodes 0; then
  :
else
  echo "a real node could not start (see above); falling back to kwok nodes, whose pods run no containers"
  drkit sandbox up
fi
if drkit sandbox status -o json | python3 -c 'import json,sys; sys.exit(not json.load(sys.stdin)["node_kinds"]["real"])'; then
  real_nodes=(--real-nodes 1)
  # the sandbox's real node is this machine: local-mode volume capture may read its host paths
  export NODE_NAME=node-0
  echo "real node: the application's containers really run (drkit sandbox status shows the node kinds)"
fi
etcd=$(drkit sandbox status -o json | python3 -c 'import json,sys; print(next(c["endpoint"] for c in json.load(sys.stdin)["components"] if c["name"] == "etcd"))')

say "2. a sample application with data: namespace shop (Deployment, Service, ConfigMap, Secret, a volume)"
mkdir -p "$demo/shop-data/orders"
for i in $(seq 1 20); do printf 'order %d\n' "$i" > "$demo/shop-data/orders/$i.txt"; done
date -u > "$demo/shop-data/last-write"
sed "s#DATA_DIR#$demo/shop-data#" hack/demo/shop.yaml | "$kubectl" apply -f -
"$kubectl" -n shop rollout status deployment/web --timeout=180s
if [[ ${#real_nodes[@]} -gt 0 ]]; then
  printf 'web serves the volume: %s\n' "$("$kubectl" get --raw /api/v1/namespaces/shop/services/web:80/proxy/orders/1.txt)"
fi
"$kubectl" -n shop wait --for=jsonpath='{.status.phase}'=Bound pvc/data --timeout=120s

say "3. an encrypted repository: a random master key behind a key-file slot, objects locked (COMPLIANCE) for 7 days"
if [[ -f "$DRKIT_KEY_FILE" ]]; then
  echo "reusing the repository in $DRKIT_REPO"
else
  drkit repo init --generate-key-file "$DRKIT_KEY_FILE" --retention 7d
fi

say "4. a cluster backup: etcd (checksum verified, revision + HashKV recorded), every API resource, the volume"
drkit --log-level info backup run --etcd-endpoints "$etcd" --volumes all --tag demo

say "5. the same backup again: unchanged objects and files deduplicate, almost nothing new is stored"
date -u > "$demo/shop-data/last-write"
drkit backup run --etcd-endpoints "$etcd" --volumes all --tag demo
drkit snapshots

say "6. verification: structure, signatures, and every byte decrypted and re-hashed"
drkit verify --read-data

say "7. a DR drill: the newest backup restored into a second, fresh scratch cluster, then checked"
rm -rf "$demo/drill"
# with a real node the restored web really runs, and the drill asks it for the backed-up order
drkit drill run restore-plans/drill-sample.yaml --provider local "${real_nodes[@]}" --report-dir "$demo/drill"
drkit drill report
echo "reports: $(ls "$demo"/drill/* | tr '\n' ' ')"

say "8. an on-demand restore: shop copied into the namespace shop-copy, its volume filled before the workloads"
"$kubectl" delete namespace shop-copy --ignore-not-found --wait=true >/dev/null
restored="$demo/restored"
if [[ ${#real_nodes[@]} -gt 0 ]]; then
  # the sandbox provisions the copy's claim (class "manual" is not a class it has) at
  # .sandbox/cluster/volumes/<namespace>/<claim>: restore the data there, and the copy's web serves it
  restored="$PWD/.sandbox/cluster/volumes"
fi
rm -rf "$restored/shop-copy"
copy=(restore-plans/demo-shop-copy.yaml --kubeconfig "$KUBECONFIG" --volume-path-map "*/*=$restored/{namespace}/{pvc}")
drkit restore plan "${copy[@]:0:3}"
drkit restore run "${copy[@]}"
diff -r "$demo/shop-data" "$restored/shop-copy/data" && echo "the restored volume equals the original"
if [[ ${#real_nodes[@]} -gt 0 ]]; then
  "$kubectl" -n shop-copy rollout status deployment/web --timeout=180s
  printf 'the restored copy serves: %s\n' "$("$kubectl" get --raw /api/v1/namespaces/shop-copy/services/web:80/proxy/orders/1.txt)"
fi

say "9. the status page: each snapshot and what it holds, the drill, RPO, size and lock plots (docs/status-page.md)"
drkit report html -o "$demo/status.html"

say "done. KUBECONFIG=$KUBECONFIG talks to the sandbox; 'make demo-down' stops it. Status page: $demo/status.html"
