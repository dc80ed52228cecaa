#!/usr/bin/env bash
# Measures what the operator's kubelet nudge is for (operator/src/core/shards.ts,
# NUDGE_AFTER_MS), on a real node: a pod whose first sync fails on its claim
# waits out the kubelet's 10-15 s retry back-off, unless its annotations
# change, which makes the kubelet sync it again at once.
#
#   bash e2e/kubelet-nudge.sh [TRIALS]     default 3; needs a running cluster:
#                                          $KUBECONFIG, else scripts/cluster's
#
# Each trial creates a pod bound to the node before its claim exists (its
# first sync fails on the missing claim, as it does when the node authorizer
# has not yet seen a replacement pod), then the claim, pre-bound to a hostPath
# volume, and times pod created -> container started and claim Bound ->
# container started: once while nudging every 2 s as the operator does, once
# leaving the kubelet alone. (How long the claim takes to bind is up to the
# cluster's volume controller; the kubelet's back-off may end meanwhile.) Everything
# is made in the namespace ridepulse-nudge-check, deleted at the end.
# Environment: NODE (default: the first node), IMAGE (default: the local
# cluster's busybox image).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
trials=${1:-3}
[[ "$trials" =~ ^[1-9][0-9]*$ ]] || { echo "kubelet-nudge.sh: TRIALS must be a positive integer, got '$trials'" >&2; exit 2; }
export KUBECONFIG=${KUBECONFIG:-$(bash scripts/cluster/cluster.sh env | sed -n 's/^KUBECONFIG=//p')}
kubectl() { "$(bash scripts/kube/build.sh)/kubectl" "$@"; }
ns=ridepulse-nudge-check
node=${NODE:-$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')}
image=${IMAGE:-$(bash scripts/cluster/image.sh busybox | cut -d' ' -f1)}
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
started() { [ "$(kubectl -n "$ns" get pod "$1" -o jsonpath='{.status.containerStatuses[0].started}')" = true ]; }

cleanup() { kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1 || true; kubectl delete pv -l ridepulse.io/nudge-check --ignore-not-found --wait=false >/dev/null 2>&1 || true; }
# A previous run's namespace may still be terminating.
kubectl wait --for=delete "namespace/$ns" --timeout=120s >/dev/null 2>&1 || true
trap cleanup EXIT
kubectl create namespace "$ns" >/dev/null 2>&1 || true

trial() { # NAME nudge|wait
  local n=$1 how=$2 t0 i created
  created=$(date +%s%N)
  kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $n}
spec:
  nodeName: $node
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers: [{name: c, image: $image, command: [sleep, "3600"], volumeMounts: [{name: d, mountPath: /d}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: $n}}]
EOF
  sleep 2 # its first sync fails on the missing claim, and the kubelet backs off
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: $ns-$n, labels: {ridepulse.io/nudge-check: "true"}}
spec:
  capacity: {storage: 1Mi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /tmp/$ns/$n, type: DirectoryOrCreate}
  claimRef: {namespace: $ns, name: $n}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: $n, namespace: $ns}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
  volumeName: $ns-$n
  storageClassName: ""
EOF
  kubectl -n "$ns" wait --for=jsonpath='{.status.phase}'=Bound "pvc/$n" --timeout=60s >/dev/null
  t0=$(date +%s%N)
  for ((i = 0; ; i++)); do
    started "$n" && break
    [ "$(ms "$t0")" -lt 60000 ] || { echo "$n: no container started 60 s after its claim was bound" >&2; exit 1; }
    if [ "$how" = nudge ] && [ $((i % 4)) = 0 ]; then
      kubectl -n "$ns" annotate pod "$n" --overwrite "ridepulse.io/kubelet-nudged-at=$(date -u +%FT%T.%3NZ)" >/dev/null
    fi
    sleep 0.2
  done
  echo "$how: pod created -> container started $(ms "$created") ms, of which claim bound -> container started $(ms "$t0") ms"
  kubectl -n "$ns" delete pod "$n" --grace-period=0 --force >/dev/null 2>&1
}

echo "node $node, image $image, $trials trials"
for ((t = 1; t <= trials; t++)); do
  trial "nudge-$t" nudge
  trial "wait-$t" wait
done
