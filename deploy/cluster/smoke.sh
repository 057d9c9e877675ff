#!/usr/bin/env bash
# The end-to-end smoke on the local cluster (up.sh, images.sh): installs the chart's dev profile
# with the local images (values-local.yaml), waits for every workload, kills one replica of each
# service (the pod deleted at once, no graceful stop: an instance lost), then right away, while
# the replacements are still starting, logs in as alice through the gateway's Service, orders a
# mug, waits for CONFIRMED and reads the order's trace from Jaeger: one trace with spans from
# all four services.
#
#   bash deploy/cluster/smoke.sh            (output: the evidence; see docs/kubernetes-cluster-run.txt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
repo=$(cd "$here/../.." && pwd)
chart=$repo/deploy/helm/tracecart
helm=$cache/bin/helm-v3.22.0
[ -x "$helm" ] || { echo "no $helm: run deploy/check.sh once first"; exit 1; }
export KUBECONFIG=$KUBECONFIG_ADMIN
k() { "$K8S_BIN/kubectl" --namespace tracecart "$@"; }
services=(gateway user-service product-service order-service)

say "kubectl version"
"$K8S_BIN/kubectl" version
"$K8S_BIN/kubectl" get nodes -o wide

wait_quiet
say "helm upgrade --install tracecart (values-dev.yaml + values-local.yaml)"
"$helm" upgrade --install tracecart "$chart" --namespace tracecart --create-namespace \
  -f "$chart/values-dev.yaml" -f "$chart/values-local.yaml" --wait --timeout 10m
say "workloads"
for w in $(k get deployments,statefulsets -o name); do k rollout status "$w" --timeout=5m; done
k get pods -o wide

say "killing one replica of each service"
killed=()
for s in "${services[@]}"; do
  pod=$(k get pods -l "app.kubernetes.io/name=$s" -o jsonpath='{.items[0].metadata.name}')
  killed+=("$pod")
  k delete pod "$pod" --grace-period=0 --force --wait=false 2>&1 | grep -v '^Warning: Immediate deletion'
done
k get pods -l app.kubernetes.io/part-of=tracecart -o wide 2>/dev/null || k get pods -o wide

gw=http://$(k get service tracecart-gateway -o jsonpath='{.spec.clusterIP}'):80
jaeger=http://$(k get service tracecart-dev-jaeger -o jsonpath='{.spec.clusterIP}'):16686
say "the gateway's Service: $gw (through kube-proxy)"
curlj() { curl -sS --max-time 10 "$@"; }

token=""
for _ in $(seq 60); do
  token=$(curlj -X POST "$gw/api/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"alice@example.com","password":"tracecart-demo"}' | jq -r '.access_token // empty' || true)
  [ -n "$token" ] && break
  sleep 1
done
[ -n "$token" ] || { echo "could not log in as alice through $gw"; exit 1; }
say "logged in as alice"

headers=$(mktemp)
body=$(curlj -D "$headers" -X POST "$gw/api/orders" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"lines":[{"product_id":"00000000-0000-4000-8000-000000000101","quantity":1}]}')
order=$(jq -r .id <<<"$body")
trace=$(tr -d '\r' <"$headers" | sed -n 's/^[Xx]-[Tt]race-[Ii]d: *//p')
say "POST /api/orders: $(head -1 "$headers" | tr -d '\r'), order $order, trace $trace"
[ -n "$order" ] && [ "$order" != null ] || { echo "no order: $body"; exit 1; }

status=""
for i in $(seq 60); do
  status=$(curlj "$gw/api/orders/$order" -H "Authorization: Bearer $token" | jq -r '.status // empty' || true)
  case $status in CONFIRMED|REJECTED|CANCELLED) break ;; esac
  sleep 1
done
say "order $order: $status after ${i} s"
[ "$status" = CONFIRMED ] || { echo "order ended '$status', want CONFIRMED"; exit 1; }

say "the order's trace in Jaeger"
summary=""
for _ in $(seq 30); do
  summary=$(curlj "$jaeger/api/traces/$trace" | jq -r '
    .data[0] as $t | ($t.processes | with_entries(.value = .value.serviceName)) as $p
    | "spans \($t.spans | length), traces \(.data | length)",
      ($t.spans | group_by($p[.processID])[] | "  \($p[.[0].processID]): \(length) spans, e.g. \([.[].operationName] | unique | .[0:6] | join(", "))"),
      "roots: \([$t.spans[] | select((.references | map(select(.refType == "CHILD_OF")) | length) == 0) | "\($p[.processID]) \(.operationName)"] | join("; "))"' 2>/dev/null || true)
  if grep -q 'user-service' <<<"$summary" && grep -q 'product-service' <<<"$summary" && grep -q 'order-service' <<<"$summary" && grep -q 'gateway' <<<"$summary"; then
    break
  fi
  sleep 2
done
echo "$summary"
for s in "${services[@]}"; do grep -q "^  $s:" <<<"$summary" || { echo "no $s spans in trace $trace"; exit 1; }; done

say "the killed pods were replaced"
for pod in "${killed[@]}"; do
  if k get pod "$pod" >/dev/null 2>&1; then echo "  $pod still exists"; else echo "  $pod gone"; fi
done
for s in "${services[@]}"; do k rollout status "deployment/tracecart-$s" --timeout=3m; done
k get pods -o wide
say "smoke ok: order $order CONFIRMED through the gateway with a replica of each service killed; trace $trace in Jaeger"
