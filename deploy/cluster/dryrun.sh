#!/usr/bin/env bash
# A server-side dry run of the chart's renders against a real kube-apiserver (with etcd), both
# built from their Go modules by build.sh and started on loopback for the run only:
#
#   bash deploy/cluster/dryrun.sh [render.yaml ...]     (default: helm template of each profile)
#   make chart-dryrun
#
# `kubectl apply --dry-run=server --validate=strict` sends every object through the API server's
# whole write path (decoding with unknown fields refused, defaulting, the validation of each
# type, admission) without storing it. That is stronger than deploy/check.sh's schema check: it
# catches what no OpenAPI schema expresses (an HPA whose minReplicas exceeds maxReplicas, a
# selector that does not match its template, an invalid label value).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
repo=$(cd "$here/../.." && pwd)

bash "$here/build.sh" etcd kube-apiserver kubectl

# A throwaway control plane of its own (state, ports), so it can run beside a local cluster.
export K8S_STATE K8S_RUN APISERVER_PORT=26443 ETCD_CLIENT_PORT=22379 ETCD_PEER_PORT=22380 APISERVER_IP=127.0.0.1
K8S_STATE=$(mktemp -d)
K8S_RUN=$K8S_STATE/run
PKI=$K8S_STATE/pki LOGS=$K8S_STATE/logs KUBECONFIG_ADMIN=$K8S_STATE/admin.kubeconfig
cleanup() {
  stop kube-apiserver >/dev/null || true
  stop etcd >/dev/null || true
  rm -rf "$K8S_STATE"
}
trap cleanup EXIT

renders=("$@")
if [ ${#renders[@]} = 0 ]; then
  helm=$cache/bin/helm-v3.22.0
  [ -x "$helm" ] || { echo "no $helm: run deploy/check.sh once first"; exit 1; }
  for p in dev production; do
    "$helm" template tracecart "$repo/deploy/helm/tracecart" --namespace tracecart --kube-version "${K8S_VERSION#v}" \
      -f "$repo/deploy/helm/tracecart/values-$p.yaml" >"$K8S_STATE/$p.yaml"
    renders+=("$K8S_STATE/$p.yaml")
  done
fi

bash "$here/pki.sh"
say "starting etcd and kube-apiserver $K8S_VERSION on 127.0.0.1:$APISERVER_PORT"
wait_quiet
start_control_plane || { tail -20 "$LOGS"/*.log; exit 1; }
kubectl_ create namespace tracecart >/dev/null

status=0
for r in "${renders[@]}"; do
  say "kubectl apply --dry-run=server --validate=strict -f ${r##*/}"
  if ! kubectl_ apply --dry-run=server --validate=strict --namespace tracecart -f "$r"; then
    echo "the API server refused objects of $r (above)"
    status=1
  fi
done
[ $status = 0 ] && say "server-side dry run ok: every object accepted by kube-apiserver $K8S_VERSION"
exit $status
