#!/usr/bin/env bash
# Builds what the local cluster runs, from the Go module proxy, into $K8S_BIN
# (~/.cache/tracecart/k8s-<version>/bin); a binary already there is not rebuilt.
#
#   bash deploy/cluster/build.sh [etcd kube-apiserver kubectl ...]   (default: all)
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces every k8s.io/<staging> module
# with a directory of its own repository. So a throwaway module requires k8s.io/kubernetes and
# replaces each staging module with its published v0.x twin, and builds the commands from there.
# etcd and CoreDNS are built the same way from small main packages written here, in modules
# of their own (their dependency versions differ from Kubernetes').
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

all=(etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy coredns)
want=("$@")
[ ${#want[@]} -gt 0 ] || want=("${all[@]}")

mkdir -p "$K8S_BIN"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gobuild() { GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 nice -n 19 go "$@"; }

kubemod() {
  [ -f "$work/k8s/go.mod" ] && return
  mkdir -p "$work/k8s"
  local dir
  dir=$(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  local staging=${K8S_VERSION/#v1./v0.}
  {
    printf 'module localbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
    sed -n '/^replace (/,/^)/p' "$dir/go.mod" | awk -v v="$staging" '$2 == "=>" {printf "\t%s => %s %s\n", $1, $1, v}'
    printf ')\n'
  } >"$work/k8s/go.mod"
  printf 'package localbuild\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$work/k8s/deps.go"
  (cd "$work/k8s" && GOWORK=off GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1)
  rm "$work/k8s/deps.go"
}

smallmod() { # dir module@version main.go-body
  mkdir -p "$work/$1"
  printf 'module localbuild/%s\n\ngo 1.26.0\n' "$1" >"$work/$1/go.mod"
  printf '%s\n' "$3" >"$work/$1/main.go"
  (cd "$work/$1" && GOWORK=off GOFLAGS=-mod=mod go get "$2" >/dev/null 2>&1 && GOWORK=off GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1)
}

for t in "${want[@]}"; do
  if [ -x "$K8S_BIN/$t" ]; then continue; fi
  wait_quiet
  start=$(date +%s)
  case $t in
    etcd)
      smallmod etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" 'package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }'
      (cd "$work/etcd" && gobuild build -trimpath -o "$K8S_BIN/etcd" .) ;;
    coredns)
      # Only the plugins the Corefile in up.sh names.
      smallmod coredns "github.com/coredns/coredns@$COREDNS_VERSION" 'package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }'
      (cd "$work/coredns" && gobuild build -trimpath -o "$K8S_BIN/coredns" .) ;;
    *)
      kubemod
      # The version Kubernetes' own build stamps in (hack/lib/version.sh): without it the
      # binaries call themselves v0.0.0-master, and Helm refuses a chart's kubeVersion.
      minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
      ldflags=""
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
      done
      (cd "$work/k8s" && gobuild build -trimpath -ldflags "$ldflags" -o "$K8S_BIN/$t" "k8s.io/kubernetes/cmd/$t") ;;
  esac
  say "built $t in $(($(date +%s) - start)) s"
done
