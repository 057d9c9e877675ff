#!/usr/bin/env bash
# Builds local stand-ins for every upstream image tracecart uses (see images.env beside this file),
# from what an air-gapped machine can reach: Debian's mirror (debootstrap, apt inside containers)
# and the Go module proxy. Images that already exist are skipped, so running it again is cheap.
#
#   bash infra/offline/build.sh           build what is missing
#   FORCE=1 bash infra/offline/build.sh   rebuild everything
#
# Binaries built from Go modules are cached in $TRACECART_OFFLINE_CACHE (default
# ~/.cache/tracecart-offline) so a rebuilt image does not recompile Consul or Jaeger.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images.env
set -a; . "$here/images.env"; set +a
cache=${TRACECART_OFFLINE_CACHE:-$HOME/.cache/tracecart-offline}
mkdir -p "$cache"
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

CONSUL_VERSION=v1.14.0
JAEGER_VERSION=v1.76.0
PROMETHEUS_VERSION=v0.307.0 # Prometheus 3.7.0; the Go module carries the 0.x tag
COMPOSE_VERSION=v2.40.3

log() { printf '%s offline: %s\n' "$(date +%H:%M:%S)" "$*"; }
have() { [ -z "${FORCE:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

# docker_build IMAGE DIR: builds DIR/Dockerfile on top of the Debian base.
docker_build() {
  docker build -q --build-arg BASE_IMAGE="$RUNTIME_IMAGE" -t "$1" "$2" >/dev/null
  log "built $1"
}

# go_module_binary NAME MODULE@VERSION PACKAGE: builds a binary from a module's own source, in a
# writable copy of the module cache's read-only tree, and caches it.
go_module_binary() {
  local name=$1 mod=$2 pkg=$3 out="$cache/$1-${2##*@}"
  if [ -x "$out" ]; then echo "$out"; return; fi
  local dir
  dir=$(go mod download -json "$mod" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  local work="$cache/src-$name"
  rm -rf "$work" && cp -r "$dir" "$work" && chmod -R u+w "$work"
  (cd "$work" && go build -trimpath -ldflags='-s -w' -o "$out.tmp" "$pkg") >&2
  mv "$out.tmp" "$out" && rm -rf "$work"
  echo "$out"
}

base() {
  have "$RUNTIME_IMAGE" && return
  log "debootstrap bookworm (a minute or two)"
  local root
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" >"$cache/debootstrap.log" 2>&1 \
    || { cat "$cache/debootstrap.log" >&2; return 1; }
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$RUNTIME_IMAGE" >/dev/null
  rm -rf "$root"
  log "built $RUNTIME_IMAGE"
}

golang() {
  have "$GO_BUILDER_IMAGE" && return
  local goroot ctx
  goroot=$(go env GOROOT)
  ctx=$(mktemp -d)
  cp "$here/golang/Dockerfile" "$ctx/"
  # Builds inside the image download modules over HTTPS, through whatever this machine's traffic
  # goes through: where that re-signs TLS with a local CA (as on tracecart's CI), only the host's
  # own bundle is trusted, so the image gets a copy of it.
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
  # The toolchain goes in as part of the build context, streamed as one tar.
  tar -C "$ctx" -c Dockerfile ca-certificates.crt -C "$(dirname "$goroot")" "$(basename "$goroot")" --transform "s,^$(basename "$goroot"),go," \
    | docker build -q --build-arg BASE_IMAGE="$RUNTIME_IMAGE" -t "$GO_BUILDER_IMAGE" - >/dev/null
  rm -rf "$ctx"
  log "built $GO_BUILDER_IMAGE ($(go env GOVERSION))"
}

binary_image() { # binary_image IMAGE DIR NAME BINARY
  local ctx
  ctx=$(mktemp -d)
  cp -r "$2"/. "$ctx/" && cp "$4" "$ctx/$3"
  docker_build "$1" "$ctx"
  rm -rf "$ctx"
}

kafka() {
  have "$KAFKA_IMAGE" && return
  (cd "$here/kafka" && go build -trimpath -o "$cache/kafka-standin" .)
  binary_image "$KAFKA_IMAGE" "$here/kafka" kafka-standin "$cache/kafka-standin"
}

consul() {
  have "$CONSUL_IMAGE" && return
  log "building consul $CONSUL_VERSION from its module (a few minutes the first time)"
  binary_image "$CONSUL_IMAGE" "$here/consul" consul \
    "$(go_module_binary consul "github.com/hashicorp/consul@$CONSUL_VERSION" .)"
}

jaeger() {
  have "$JAEGER_IMAGE" && return
  log "building jaeger $JAEGER_VERSION from its module (several minutes the first time)"
  binary_image "$JAEGER_IMAGE" "$here/jaeger" jaeger \
    "$(go_module_binary jaeger "github.com/jaegertracing/jaeger@$JAEGER_VERSION" ./cmd/jaeger)"
}

# compose: the demo needs `docker compose` (v2). Where the Docker CLI has no compose plugin, it
# builds the real one from its Go module and installs it as the CLI plugin `docker-compose`.
# The plugin goes where the CLI looks for system-wide plugins, or, without the rights to write
# there, into the user's own ~/.docker/cli-plugins.
compose() {
  [ -z "${FORCE:-}" ] && docker compose version >/dev/null 2>&1 && return
  local out="$cache/docker-compose-$COMPOSE_VERSION"
  if [ ! -x "$out" ]; then
    log "building docker compose $COMPOSE_VERSION from its module (a few minutes the first time)"
    local buildlog="$cache/docker-compose-build.log" dir work="$cache/src-compose"
    if ! {
      dir=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p') &&
        rm -rf "$work" && cp -r "$dir" "$work" && chmod -R u+w "$work" &&
        # internal.Version is what `docker compose version` prints; the upstream Makefile sets it
        # the same way.
        (cd "$work" && go build -trimpath \
          -ldflags="-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
          -o "$out.tmp" ./cmd)
    } >"$buildlog" 2>&1; then
      cat "$buildlog" >&2
      return 1
    fi
    mv "$out.tmp" "$out" && rm -rf "$work"
  fi
  local plugins=/usr/local/lib/docker/cli-plugins
  mkdir -p "$plugins" 2>/dev/null && [ -w "$plugins" ] || plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
  mkdir -p "$plugins" && install -m 0755 "$out" "$plugins/docker-compose"
  log "installed $(docker compose version) in $plugins"
}

postgres() { have "$POSTGRES_IMAGE" || docker_build "$POSTGRES_IMAGE" "$here/postgres"; }
# prometheus: built from its module rather than taken from Debian, whose Prometheus (2.42) is
# compiled without Consul service discovery, which the demo's scrape configuration needs.
prometheus() {
  have "$PROMETHEUS_IMAGE" && return
  log "building prometheus $PROMETHEUS_VERSION from its module (ten minutes the first time)"
  local ctx
  ctx=$(mktemp -d)
  cp -r "$here/prometheus"/. "$ctx/"
  cp "$(go_module_binary prometheus "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" ./cmd/prometheus)" "$ctx/prometheus"
  cp "$(go_module_binary promtool "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" ./cmd/promtool)" "$ctx/promtool"
  docker_build "$PROMETHEUS_IMAGE" "$ctx"
  rm -rf "$ctx"
}

steps=${*:-base golang postgres kafka consul prometheus jaeger compose}
for step in $steps; do
  [ "$step" = base ] || have "$RUNTIME_IMAGE" || base
  "$step"
done
log "stand-in images ready"
