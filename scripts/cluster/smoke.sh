#!/usr/bin/env bash
# Smoke check of a running cluster (scripts/cluster/cluster.sh up), or of any
# cluster whose kubeconfig is in $KUBECONFIG and which has the locally
# assembled busybox image and a default StorageClass:
#
#   a pod of the busybox image with a claim of the default class is scheduled,
#   its claim is bound by the provisioner, it reaches Running, writes to its
#   volume, answers `kubectl exec`, reaches the API server through the
#   kubernetes Service and itself through its own Service, and is deleted; then the claim is deleted and its volume
#   released. Prints each step's time; exits non-zero at the first failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kube_bin=$(bash "$here/../kube/build.sh")
if [ -z "${KUBECONFIG:-}" ]; then
  eval "export $(bash "$here/cluster.sh" env)"
fi
ns=ridepulse-smoke
image=${SMOKE_IMAGE:-localhost/ridepulse/busybox:1}

k() { "$kube_bin/kubectl" "$@"; }
log() { echo "smoke.sh: $*" >&2; }
now() { date +%s%N; }
ms_since() { echo $((($(now) - $1) / 1000000)); }
fail() {
  log "FAILED: $*"
  k -n "$ns" get pod,pvc -o wide >&2 || true
  k -n "$ns" describe pod writer 2>/dev/null | tail -n 20 >&2 || true
  exit 1
}

# A namespace of its own, fresh each run.
if k get namespace "$ns" >/dev/null 2>&1; then
  k delete namespace "$ns" --wait=true --timeout=120s >/dev/null
fi
k create namespace "$ns" >/dev/null

start=$(now)
k -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 16Mi } }
---
apiVersion: v1
kind: Service
metadata: { name: writer }
spec:
  selector: { app: writer }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Pod
metadata: { name: writer, labels: { app: writer } }
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: writer
    image: $image
    imagePullPolicy: Never
    # A shell as PID 1 ignores SIGTERM unless it traps it.
    # It also serves its volume over HTTP, for the Service check below.
    command: [sh, -c, 'trap "exit 0" TERM; echo written-by-smoke > /data/hello && sync; httpd -p 8080 -h /data; while :; do sleep 1; done']
    volumeMounts: [{ name: data, mountPath: /data }]
  volumes:
  - name: data
    persistentVolumeClaim: { claimName: data }
EOF
k -n "$ns" wait pod/writer --for=jsonpath='{.status.phase}'=Running --timeout=120s >/dev/null ||
  fail "pod not Running"
running_ms=$(ms_since "$start")
[ "$(k -n "$ns" get pvc data -o 'jsonpath={.status.phase}')" = Bound ] || fail "claim not Bound"
pv=$(k -n "$ns" get pvc data -o 'jsonpath={.spec.volumeName}')
log "pod Running with its claim bound to $pv in $running_ms ms"

t=$(now)
out=$(k -n "$ns" exec writer -- cat /data/hello) || fail "exec"
[ "$out" = written-by-smoke ] || fail "read back '$out' from the volume"
log "exec read the file back from the volume in $(ms_since "$t") ms"

# Through the Service's cluster IP (kube-proxy), to the API server's TLS port;
# any HTTP answer proves the path, so certificate and status are not checked.
k -n "$ns" exec writer -- sh -c \
  'wget -q --no-check-certificate -O /dev/null "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/readyz" 2>&1 || nc -z -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT"' \
  >/dev/null || fail "the API server is not reachable from the pod through the kubernetes Service"
log "API server reachable from the pod through the kubernetes Service"

# Pod to Service to pod (the same one: the bridge's hairpin mode), across
# iptables as any pod-to-pod traffic on the bridge.
svc_ip=$(k -n "$ns" get service writer -o 'jsonpath={.spec.clusterIP}')
out=$(k -n "$ns" exec writer -- wget -q -O - "http://$svc_ip/hello") || fail "pod to Service $svc_ip"
[ "$out" = written-by-smoke ] || fail "read '$out' through the Service"
log "the pod's own Service answers from inside the pod"

t=$(now)
k -n "$ns" delete pod writer --wait=true --timeout=60s >/dev/null || fail "pod deletion"
log "pod deleted in $(ms_since "$t") ms"

t=$(now)
k -n "$ns" delete pvc data --wait=true --timeout=60s >/dev/null || fail "claim deletion"
for ((i = 0; i < 300; i++)); do
  k get pv "$pv" >/dev/null 2>&1 || break
  sleep 0.2
done
k get pv "$pv" >/dev/null 2>&1 && fail "volume $pv not released after 60 s"
log "claim deleted and volume $pv released in $(ms_since "$t") ms"
k delete namespace "$ns" --wait=false >/dev/null
log "ok (pod Running after $running_ms ms)"
