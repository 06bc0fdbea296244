#!/usr/bin/env bash
# End-to-end on a local kind cluster: builds the image, installs the CRDs, the router (2 replicas, leader election),
# a simulated vLLM fleet and a bare Envoy using kthena-router as ext_proc endpoint picker, then sends traffic
# through Envoy and through the router's own proxy and checks the answers and the spread over the fleet.
#
# Needs: docker, kind (>= 0.23), kubectl (>= 1.30, with built-in kustomize), curl.
#   test/e2e/kind/run.sh            create/reuse cluster "kthena-e2e", run, delete the cluster at the end
#   KEEP=1 test/e2e/kind/run.sh     keep the cluster for poking around
set -euo pipefail

CLUSTER="${KIND_CLUSTER:-kthena-e2e}"
IMAGE="kthena-router:e2e"
NS=kthena-system
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
WORK="$(mktemp -d)"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  if [[ "${KEEP:-}" != 1 ]]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
for tool in docker kind kubectl curl; do command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }; done

step "cluster $CLUSTER"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER" >/dev/null

step "image $IMAGE"
docker build -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "CRDs (ours + a minimal InferencePool CRD so the router's InferencePool watch has a collection)"
kubectl apply --server-side -k "$ROOT/manifests/crds"
kubectl apply --server-side -f "$ROOT/test/e2e/k8s/fixtures/inferencepool-crd.yaml"
kubectl wait --for=condition=Established --timeout=60s crd --all

step "router + simulator fleet"
# An overlay that uses the image just loaded into kind.
cat >"$WORK/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $ROOT/manifests/base
- $ROOT/manifests/examples/sim-fleet
images:
- name: ghcr.io/kthena-router/kthena-router
  newName: kthena-router
  newTag: e2e
patches:
- target: { kind: Deployment }
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: IfNotPresent
YAML
kubectl apply --server-side -k "$WORK"

step "bare Envoy (envoy/envoy.yaml, picker address pointed at the router Service)"
sed 's/address: 127.0.0.1, port_value: 9002/address: kthena-router.'"$NS"'.svc.cluster.local, port_value: 9002/' \
  "$ROOT/envoy/envoy.yaml" >"$WORK/envoy.yaml"
grep -q "kthena-router.$NS.svc.cluster.local" "$WORK/envoy.yaml" || { echo "could not rewrite the picker address" >&2; exit 1; }
kubectl -n "$NS" create configmap envoy-config --from-file=envoy.yaml="$WORK/envoy.yaml" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: { name: envoy, labels: { app: envoy } }
spec:
  replicas: 1
  selector: { matchLabels: { app: envoy } }
  template:
    metadata: { labels: { app: envoy } }
    spec:
      containers:
      - name: envoy
        image: envoyproxy/envoy:v1.36-latest
        args: [-c, /etc/envoy/envoy.yaml, --log-level, warn]
        ports: [{ containerPort: 10000 }]
        readinessProbe: { tcpSocket: { port: 10000 }, periodSeconds: 2 }
        volumeMounts: [{ name: config, mountPath: /etc/envoy }]
      volumes: [{ name: config, configMap: { name: envoy-config } }]
---
apiVersion: v1
kind: Service
metadata: { name: envoy }
spec:
  selector: { app: envoy }
  ports: [{ name: http, port: 10000 }]
YAML

step "waiting for rollouts"
for d in sim-llama kthena-router envoy; do kubectl -n "$NS" rollout status "deploy/$d" --timeout=180s; done
kubectl -n "$NS" get modelservers,modelroutes,pods -o wide

step "leader election and status"
holder="$(kubectl -n "$NS" get lease kthena-router -o jsonpath='{.spec.holderIdentity}')"
[[ "$holder" == kthena-router-* ]] || { echo "no router holds the Lease (holder: '$holder')" >&2; exit 1; }
kubectl -n "$NS" wait --for=jsonpath='{.status.conditions[?(@.type=="Accepted")].status}'=True modelserver/llama-8b --timeout=60s

forward() { kubectl -n "$NS" port-forward "svc/$1" "$2:$3" >/dev/null 2>&1 & PIDS+=($!); }
forward envoy 18000 10000
forward kthena-router 18080 8080
forward kthena-router 19090 9090
sleep 3

chat() {
  curl -sS --fail-with-body --max-time 60 "http://127.0.0.1:$1/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"llama-8b","max_tokens":16,"stream":'"$2"',"messages":[{"role":"user","content":"Say hello in five words."}]}'
}

step "traffic through Envoy (ext_proc endpoint picking)"
for i in $(seq 1 20); do chat 18000 false | grep -q '"choices"' || { echo "request $i through Envoy failed" >&2; exit 1; }; done
chat 18000 true | grep -q 'data: \[DONE\]' || { echo "streaming through Envoy failed" >&2; exit 1; }

step "traffic through the router's own proxy"
for i in $(seq 1 20); do chat 18080 false | grep -q '"choices"' || { echo "request $i through the proxy failed" >&2; exit 1; }; done

step "requests spread over the fleet"
used="$(curl -sS http://127.0.0.1:19090/metrics | grep -c '^kthena_router_picks_total{' || true)"
echo "endpoints picked (this replica): $used"
[[ "$used" -ge 2 ]] || { echo "expected picks over at least 2 simulator pods" >&2; exit 1; }

step "scale the fleet down: the router follows"
kubectl -n "$NS" scale deploy/sim-llama --replicas=1
kubectl -n "$NS" rollout status deploy/sim-llama --timeout=120s
sleep 3
for i in $(seq 1 10); do chat 18000 false | grep -q '"choices"' || { echo "request $i after scale-down failed" >&2; exit 1; }; done

echo
echo "kind e2e passed"
