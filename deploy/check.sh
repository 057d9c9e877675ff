#!/usr/bin/env bash
# Proves the Helm chart in deploy/helm/tracecart without a cluster (docs/kubernetes.md, "How CI
# checks the chart"):
#
#   1. helm lint --strict, for each profile;
#   2. helm template of each profile; and the chart must refuse to render what would be unsafe
#      or broken (the default values, which name no Secrets and no dependencies; a missing
#      Secret; fewer than two replicas), naming the value to set;
#   3. every rendered object decoded strictly into the typed structs of k8s.io/api and validated
#      against the OpenAPI schema of Kubernetes $K8S_VERSION, taken from the k8s.io/kubernetes
#      module (api/openapi-spec/swagger.json), by deploy/validate;
#   4. each render compared with its reviewed copy in deploy/helm/tracecart/golden/, and so is
#      the list of connections its NetworkPolicies allow (<profile>.traffic.txt).
#
# Helm and the validator are built from the Go module proxy and kept in $TRACECART_CACHE
# (default ~/.cache/tracecart), so only the first run pays for the builds.
#
# After an intended change to the chart: UPDATE_GOLDEN=1 bash deploy/check.sh, then review the
# diff of golden/ like any other change.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

HELM_VERSION=v3.22.0
# The Kubernetes version the chart is validated against, and the checksum of its module as the
# Go checksum database knows it, so the schema is exactly the published one.
K8S_VERSION=v1.37.2
K8S_MODULE_SUM=h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE=

chart=deploy/helm/tracecart
profiles=(dev production)
cache=${TRACECART_CACHE:-$HOME/.cache/tracecart}
mkdir -p "$cache/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf -- '-- %s\n' "$*"; }

# Outside every module and workspace, so `go install` and `go mod download` see only what
# they are asked for.
gomod() { (cd "$work" && GOWORK=off GOFLAGS=-mod=mod "$@"); }

helm="$cache/bin/helm-$HELM_VERSION"
if [ ! -x "$helm" ]; then
  say "building helm $HELM_VERSION (first run only)"
  gomod env GOBIN="$work/bin" CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$work/bin/helm" "$helm"
fi

say "testing and building the validator"
(cd deploy/validate && GOWORK=off go test -count=1 ./... && GOWORK=off go build -o "$cache/bin/tracecart-validate" .)

say "fetching the OpenAPI schema of Kubernetes $K8S_VERSION"
info=$(gomod go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",*$/\1/p' <<<"$info")
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$info")
[ "$sum" = "$K8S_MODULE_SUM" ] || { echo "k8s.io/kubernetes@$K8S_VERSION has checksum '$sum', want $K8S_MODULE_SUM"; exit 1; }
schema="$dir/api/openapi-spec/swagger.json"
[ -f "$schema" ] || { echo "no $schema"; exit 1; }

kube=${K8S_VERSION#v}
args=(--kube-version "$kube")
render() { "$helm" template tracecart "$chart" --namespace tracecart "${args[@]}" "$@"; }

for p in "${profiles[@]}"; do
  say "helm lint --strict ($p)"
  "$helm" lint --strict --quiet "$chart" --namespace tracecart "${args[@]}" -f "$chart/values-$p.yaml"
  say "helm template ($p)"
  render -f "$chart/values-$p.yaml" >"$work/$p.yaml"
done

# The chart must refuse what would be unsafe or broken, and say what to set.
refuses() {
  local want=$1; shift
  if out=$(render "$@" 2>&1 >/dev/null); then
    echo "helm template $* rendered; it must refuse ($want)"; exit 1
  fi
  grep -q -- "$want" <<<"$out" || { echo "helm template $* failed without naming $want:"; echo "$out"; exit 1; }
}
say "the chart refuses to render without Secrets or dependencies"
refuses consul.address
refuses jwt.secretName -f "$chart/values-production.yaml" --set jwt.secretName=
refuses services.order-service.database.secretName -f "$chart/values-production.yaml" --set services.order-service.database.secretName=
refuses kafka.brokers -f "$chart/values-production.yaml" --set kafka.brokers=
refuses "must be set in Mi or Gi" -f "$chart/values-dev.yaml" --set services.gateway.resources.limits.memory=1G
refuses "at least 2" -f "$chart/values-dev.yaml" --set services.order-service.replicas=1

say "validating every rendered object against Kubernetes $K8S_VERSION"
renders=()
for p in "${profiles[@]}"; do renders+=("$work/$p.yaml"); done
# Also writes <profile>.traffic.txt: the connections the render's NetworkPolicies allow.
"$cache/bin/tracecart-validate" -schema "$schema" -kubernetes "$K8S_VERSION" -traffic "$work" "${renders[@]}"

# The throwaway secrets are random at every render: the golden copies hold a placeholder.
mask() { sed -E 's/^(  [A-Za-z0-9_.-]+: )[A-Za-z0-9+\/=]+ # generated$/\1MASKED # generated/'; }
say "comparing with the reviewed renders in $chart/golden"
status=0
for p in "${profiles[@]}"; do
  mask <"$work/$p.yaml" >"$work/$p.masked.yaml"
  for pair in "$p.masked.yaml:$p.yaml" "$p.traffic.txt:$p.traffic.txt"; do
    got="$work/${pair%%:*}" golden="$chart/golden/${pair#*:}"
    if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
      cp "$got" "$golden"
      echo "wrote $golden"
    elif ! diff -u "$golden" "$got"; then
      echo "the $p render differs from $golden (above). If the change is intended:"
      echo "  make chart-golden   and review and commit the golden files"
      status=1
    fi
  done
done
[ $status = 0 ] && say "chart ok: ${profiles[*]} linted, rendered, valid for Kubernetes $K8S_VERSION, same as golden"
exit $status
