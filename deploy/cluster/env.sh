# Shared settings of the deploy/cluster scripts (sourced, not run). Everything the local cluster
# keeps lives under $K8S_STATE and $K8S_RUN, so down.sh can remove it all.
export PATH="$PATH:/usr/local/go/bin"

K8S_VERSION=v1.37.2
# etcd's server module; its version is the one k8s.io/kubernetes $K8S_VERSION requires.
ETCD_VERSION=v3.7.0
# CoreDNS, built from its Go module with only the plugins the cluster uses.
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}

cache=${TRACECART_CACHE:-$HOME/.cache/tracecart}
K8S_BIN=$cache/k8s-$K8S_VERSION/bin
K8S_STATE=${K8S_STATE:-/var/lib/tracecart-k8s}
K8S_RUN=${K8S_RUN:-/run/tracecart-k8s}
PKI=$K8S_STATE/pki
LOGS=$K8S_STATE/logs
KUBECONFIG_ADMIN=$K8S_STATE/admin.kubeconfig

# Loopback only for the control plane. The API server's port is not 6443, so a second cluster
# or a test on the usual port does not collide with this one.
APISERVER_PORT=${APISERVER_PORT:-16443}
# Where the API server listens: loopback for a dry run; the node's bridge address for a cluster,
# so pods reach it through the "kubernetes" Service too (up.sh sets it).
APISERVER_IP=${APISERVER_IP:-127.0.0.1}
NODE_IP=10.244.0.1
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-12379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-12380}
# Ranges that no Docker network on this machine uses (docker0 is 172.17/16, compose networks
# take the next 172.x and 192.168.x blocks).
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
DNS_SVC_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
# The bridge the CNI plugin creates for pods; docker's are docker0 and br-*.
CNI_BRIDGE=tck8s0
NODE_NAME=${NODE_NAME:-tracecart-node}

CONTAINERD_SOCK=$K8S_RUN/containerd/containerd.sock
ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
kubectl_() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

say() { printf -- '-- %s %s\n' "$(date -u +%T)" "$*"; }
# The lead measures performance on this machine: nothing CPU-heavy while /tmp/perf-quiet exists.
wait_quiet() {
  while [ -e /tmp/perf-quiet ]; do sleep 20; done
}

# start <name> <command...>: runs a component in the background, its output in $LOGS/<name>.log
# and its process id in $K8S_RUN/<name>.pid, for down.sh.
start() {
  local name=$1; shift
  mkdir -p "$LOGS" "$K8S_RUN"
  if [ -f "$K8S_RUN/$name.pid" ] && kill -0 "$(cat "$K8S_RUN/$name.pid")" 2>/dev/null; then
    say "$name already running"; return
  fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$K8S_RUN/$name.pid"
  say "started $name (pid $!, log $LOGS/$name.log)"
}

# stop <name>: SIGTERM to the process start() recorded, SIGKILL after 15 s.
stop() {
  local pidfile=$K8S_RUN/$1.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "stopped $1"
  fi
  rm -f "$pidfile"
}

# until_ok <seconds> <what> <command...>: retries the command every second.
until_ok() {
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "timed out after $limit s waiting for $what"; return 1
}

# The control plane: etcd and kube-apiserver, listening on $APISERVER_IP.
start_control_plane() {
  mkdir -p "$K8S_STATE/etcd"
  start etcd "$K8S_BIN/etcd" --name local --data-dir "$K8S_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
  until_ok 60 etcd curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
  # On loopback (a dry run) there is no address to publish as the "kubernetes" Service's
  # endpoint: the API server refuses a loopback one, so it publishes none.
  local reconciler=lease
  [ "$APISERVER_IP" = 127.0.0.1 ] && reconciler=none
  start kube-apiserver "$K8S_BIN/kube-apiserver" --endpoint-reconciler-type "$reconciler" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address "$APISERVER_IP" --advertise-address "$APISERVER_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" --authorization-mode Node,RBAC \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
    --kubelet-preferred-address-types InternalIP \
    --allow-privileged=true --enable-priority-and-fairness=false --profiling=false \
    --v=1
  until_ok 180 kube-apiserver kubectl_ get --raw /readyz
}
