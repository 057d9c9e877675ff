#!/usr/bin/env bash
# The images the local cluster runs, built with docker and imported into the node's containerd
# (nothing can be pulled from a registry here):
#
#   - tracecart-local/pause:1, the pods' sandbox image, from ./pause (a static Go binary in a
#     scratch image);
#   - tracecart/<service>:k8s-local, each service built from this checkout exactly as the
#     compose file and the e2e suites build it (its Dockerfile, the offline base images);
#   - tracecart-local/postgres:15, the offline Postgres stand-in adapted to the chart's non-root
#     start (./standins/postgres); the other stand-ins are used as they are.
#
# The stand-ins themselves come from `make images` (infra/offline/build.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
repo=$(cd "$here/../.." && pwd)
# shellcheck disable=SC1091
source "$repo/infra/offline/images.env"

TAG=${TAG:-k8s-local}
services=(gateway user-service product-service order-service)

for img in "$POSTGRES_IMAGE" "$KAFKA_IMAGE" "$CONSUL_IMAGE" "$JAEGER_IMAGE" "$GO_BUILDER_IMAGE" "$RUNTIME_IMAGE"; do
  docker image inspect "$img" >/dev/null 2>&1 || { echo "no image $img: run make images (infra/offline/build.sh) first"; exit 1; }
done

wait_quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "building the pause image"
(cd "$here/pause" && GOWORK=off CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags=-s -o "$work/pause" .)
cp "$here/pause/Dockerfile" "$work/"
docker build --quiet --tag tracecart-local/pause:1 "$work" >/dev/null

say "building the Postgres stand-in for a non-root start"
docker build --quiet --build-arg "BASE_IMAGE=$POSTGRES_IMAGE" --tag tracecart-local/postgres:15 "$here/standins/postgres" >/dev/null

for s in "${services[@]}"; do
  wait_quiet
  say "building tracecart/$s:$TAG"
  nice -n 19 docker build --quiet --file "$repo/$s/Dockerfile" \
    --build-arg "GO_BUILDER_IMAGE=$GO_BUILDER_IMAGE" --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" \
    --tag "tracecart/$s:$TAG" "$repo" >/dev/null
done

if [ -S "$CONTAINERD_SOCK" ]; then
  imgs=(tracecart-local/pause:1 tracecart-local/postgres:15 "$KAFKA_IMAGE" "$CONSUL_IMAGE" "$JAEGER_IMAGE")
  for s in "${services[@]}"; do imgs+=("tracecart/$s:$TAG"); done
  say "importing ${#imgs[@]} images into the node's containerd"
  docker save "${imgs[@]}" | ctr_ images import - >/dev/null
  ctr_ images ls -q | grep -v '^sha256:' | sort
else
  say "containerd is not running (up.sh starts it): images built, not imported"
fi
