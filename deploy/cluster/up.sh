#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, from binaries built from the Go module proxy
# (build.sh) and Debian's containerd, runc and CNI plugins:
#
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler   the control plane
#   containerd (its own socket, root and state; not docker's)       the container runtime
#   kubelet                                                         the node, "$NODE_NAME"
#   kube-proxy (nftables mode, its own tables)                      Services
#   CoreDNS (a host process answering on the bridge address)        cluster DNS
#
# Pods live on the bridge $CNI_BRIDGE ($POD_CIDR) and can reach each other and the node, nothing
# else: there is no masquerading and docker's FORWARD policy (DROP) stays in force for them.
# down.sh stops all of it and removes what it created. No NetworkPolicy is enforced: the bridge
# plugin does not implement them (docs/kubernetes.md).
#
#   bash deploy/cluster/up.sh && bash deploy/cluster/images.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export APISERVER_IP=10.244.0.1
source "$here/env.sh"

for tool in containerd runc ctr nft iptables ip; do
  command -v $tool >/dev/null || { echo "no $tool: apt-get install containerd runc nftables iptables iproute2"; exit 1; }
done
[ -x /usr/lib/cni/bridge ] || { echo "no CNI plugins: apt-get install containernetworking-plugins"; exit 1; }

if ! [ -f "$K8S_RUN/containerd.pid" ] && compgen -G '/run/netns/cni-*' >/dev/null; then
  echo "/run/netns holds cni-* namespaces this cluster did not make (down.sh would remove them)"; exit 1
fi

bash "$here/build.sh"
bash "$here/pki.sh"
mkdir -p "$K8S_STATE" "$K8S_RUN" "$LOGS"

# The kernel settings the kubelet changes at start (it sets what it needs, unless
# protectKernelDefaults), saved once so down.sh puts them back.
if [ ! -f "$K8S_STATE/sysctl.saved" ]; then
  sysctl -e vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes | sed 's/ = /=/' >"$K8S_STATE/sysctl.saved"
fi

# The pods' bridge, made before the kubelet so the node and the API server have their address.
if ! ip link show "$CNI_BRIDGE" >/dev/null 2>&1; then
  ip link add "$CNI_BRIDGE" type bridge
  ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$CNI_BRIDGE"
fi
ip link set "$CNI_BRIDGE" up
# Docker's FORWARD chain drops what it does not know. Bridged pod-to-pod traffic (and Service
# traffic once kube-proxy has translated it) passes FORWARD because br_netfilter is on: let it
# through in a chain of our own, first in FORWARD, and nothing else.
if ! iptables -S TCK8S-FORWARD >/dev/null 2>&1; then
  iptables -N TCK8S-FORWARD
  iptables -A TCK8S-FORWARD -i "$CNI_BRIDGE" -o "$CNI_BRIDGE" -j ACCEPT
  iptables -I FORWARD 1 -j TCK8S-FORWARD
fi

wait_quiet
start_control_plane

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig "$KUBECONFIG_ADMIN" --authentication-kubeconfig "$KUBECONFIG_ADMIN" --authorization-kubeconfig "$KUBECONFIG_ADMIN" \
  --bind-address 127.0.0.1 --secure-port 20257 --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false --v=1
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig "$KUBECONFIG_ADMIN" --authentication-kubeconfig "$KUBECONFIG_ADMIN" --authorization-kubeconfig "$KUBECONFIG_ADMIN" \
  --bind-address 127.0.0.1 --secure-port 20259 --leader-elect=false --v=1

# containerd: a second daemon beside docker's, with its own socket, root and state, the CRI
# plugin on, cgroupfs (this host has cgroup v1 and no systemd) and the CNI config below.
mkdir -p "$K8S_STATE/cni/net.d" "$K8S_RUN/containerd"
cat >"$K8S_STATE/containerd.toml" <<TOML
version = 2
root = "$K8S_STATE/containerd"
state = "$K8S_RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$K8S_RUN/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/tracecart-local/pause:1"
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  # This machine withholds CAP_SYS_RESOURCE, so runc may not lower a process's oom_score_adj
  # below its own: without this, every sandbox fails with "can't get final child's PID from
  # pipe: EOF" (runc: "failed to update /proc/self/oom_score_adj: Permission denied").
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$K8S_RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$K8S_STATE/cni/net.d"
TOML
cat >"$K8S_STATE/cni/net.d/10-tracecart.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "tracecart-k8s",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$K8S_STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
JSON
start containerd containerd --config "$K8S_STATE/containerd.toml"
until_ok 30 containerd ctr --address "$CONTAINERD_SOCK" version

cat >"$K8S_STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 20248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# This host has cgroup v1 (deprecated by Kubernetes, refused by default since 1.35).
failCgroupV1: false
failSwapOn: false
clusterDNS: [$NODE_IP]
clusterDomain: $CLUSTER_DOMAIN
podCIDR: $POD_CIDR
staticPodPath: ""
serializeImagePulls: false
# The images were imported, not pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 200Mi, nodefs.available: 3%, imagefs.available: 3%}
YAML
start kubelet "$K8S_BIN/kubelet" --config "$K8S_STATE/kubelet.yaml" --kubeconfig "$KUBECONFIG_ADMIN" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
  --root-dir "$K8S_STATE/kubelet" --cert-dir "$K8S_STATE/kubelet-pki" --v=1

cat >"$K8S_STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $KUBECONFIG_ADMIN}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:20256
metricsBindAddress: 127.0.0.1:20249
# NodePorts on the bridge address only, never on this machine's other interfaces.
nodePortAddresses: ["$NODE_IP/32"]
# Leave the host's conntrack settings alone.
conntrack: {maxPerCore: 0}
YAML
start kube-proxy "$K8S_BIN/kube-proxy" --config "$K8S_STATE/kube-proxy.yaml" --v=1

# Cluster DNS: CoreDNS's kubernetes plugin on the bridge address (the kubelet's clusterDNS),
# reading Services from the API server as a client. Names outside the cluster are not answered:
# pods have nothing to reach outside it.
cat >"$K8S_STATE/Corefile" <<CF
.:53 {
  bind $NODE_IP
  errors
  kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
    kubeconfig $KUBECONFIG_ADMIN local
    pods insecure
  }
  cache 30
  loadbalance
}
CF
start coredns "$K8S_BIN/coredns" -conf "$K8S_STATE/Corefile"

until_ok 120 "node $NODE_NAME Ready" kubectl_ wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
# The dev profile's two volumes: hostPath volumes under $K8S_STATE, owned by the users the chart
# runs Postgres (999) and Kafka (1000) as (fsGroup does not apply to hostPath volumes).
for pair in postgres:999 kafka:1000; do
  dep=${pair%%:*} uid=${pair#*:}
  mkdir -p "$K8S_STATE/volumes/$dep"
  chown "$uid:$uid" "$K8S_STATE/volumes/$dep"
  kubectl_ apply -f - >/dev/null <<PV
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-$dep}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $K8S_STATE/volumes/$dep, type: Directory}
  claimRef: {namespace: tracecart, name: data-tracecart-dev-$dep-0}
PV
done
kubectl_ get nodes -o wide
say "cluster up: export KUBECONFIG=$KUBECONFIG_ADMIN"
