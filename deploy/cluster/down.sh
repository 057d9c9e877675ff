#!/usr/bin/env bash
# Stops the local cluster of up.sh and removes what it made outside $K8S_STATE, leaving docker
# and its networks as they were:
#
#   bash deploy/cluster/down.sh          stop, clean up, keep $K8S_STATE (binaries stay cached)
#   bash deploy/cluster/down.sh --purge  also delete $K8S_STATE (etcd data, volumes, images)
#
# Safe to run twice, or after a failed up.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

# Pods first, deleted through the API while the kubelet runs, so it tears each sandbox and its
# network down properly; what is left after that is killed through containerd.
if kubectl_ get --raw /readyz >/dev/null 2>&1 && [ -f "$K8S_RUN/kubelet.pid" ]; then
  say "deleting every pod"
  kubectl_ delete namespace tracecart --ignore-not-found --wait=false >/dev/null 2>&1
  kubectl_ delete pods --all --all-namespaces --grace-period=5 --timeout=90s >/dev/null 2>&1
  for _ in $(seq 60); do [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] && break; sleep 1; done
fi
if [ -S "$CONTAINERD_SOCK" ]; then
  stop kubelet
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
  sleep 1
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1; done
  for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1; done
fi
for c in coredns kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do stop "$c"; done
# Shims outlive containerd by design; only those of this containerd (its socket is in their
# command line).
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true); do kill -9 "$pid" 2>/dev/null; done

# What the kubelet and containerd mounted (volumes, secrets, the sandboxes' netns, rootfs).
mounts=$(awk -v s="$K8S_STATE" -v r="$K8S_RUN" 'index($2, s) == 1 || index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r)
for m in $mounts; do umount -l "$m" 2>/dev/null; done

# The network namespaces containerd's CRI made for sandboxes (dockerd keeps its own under
# /run/docker/netns; up.sh refuses to start if any cni-* namespace already exists).
for ns in /run/netns/cni-*; do
  [ -e "$ns" ] || continue
  umount "$ns" 2>/dev/null; rm -f "$ns"
done

# kube-proxy's nftables tables, and our FORWARD chain.
for family in ip ip6; do nft delete table "$family" kube-proxy 2>/dev/null; done
if iptables -S TCK8S-FORWARD >/dev/null 2>&1; then
  iptables -D FORWARD -j TCK8S-FORWARD
  iptables -F TCK8S-FORWARD
  iptables -X TCK8S-FORWARD
fi
# The kubelet's own chains (KUBE-FIREWALL, which drops outside traffic to 127.0.0.0/8, and its
# canaries), in every table, for both families.
for ipt in iptables ip6tables; do
  for table in filter nat mangle; do
    "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A/-D/' |
      while IFS= read -r rule; do eval "$ipt -t $table $rule"; done
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | sed -n 's/^-N \(KUBE-[A-Z-]*\)$/\1/p'); do
      "$ipt" -t "$table" -F "$chain"; "$ipt" -t "$table" -X "$chain"
    done
  done
done
# A runc state directory of an older configuration (now under $K8S_RUN).
rmdir /run/containerd/runc/k8s.io 2>/dev/null

# The pods' bridge (their veths went with their network namespaces).
ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && ip link delete "$CNI_BRIDGE"
rm -rf "$K8S_STATE/cni/ipam"

# The kernel settings the kubelet changed.
if [ -f "$K8S_STATE/sysctl.saved" ]; then
  while IFS= read -r kv; do sysctl -q -w "$kv"; done <"$K8S_STATE/sysctl.saved"
  rm -f "$K8S_STATE/sysctl.saved"
fi
rm -rf "$K8S_RUN"
[ "${1:-}" = --purge ] && rm -rf "$K8S_STATE"
say "local cluster stopped and cleaned up"
