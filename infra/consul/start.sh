#!/bin/sh
# Runs a Consul dev agent with ACLs on and everything denied by default, then creates the demo's
# ACL tokens, so that only tracecart's services can register, each under its own name.
#
# The bootstrap is deterministic: the tokens have fixed secret IDs, read from files next to this
# script (management.env, and tokens/<name>.env for each service and Prometheus), which compose
# and the e2e suite hand to the same parties. Those secrets are published demo values: a real
# deployment bootstraps with `consul acl bootstrap` and keeps the tokens in a secret store.
#
#   - the initial management token (management.env) has every right; the agent uses it too;
#   - each service's token carries a service identity: write its own service (register,
#     deregister, its health check) and read every service and node (discovery);
#   - Prometheus's token reads services, nodes and agents, for Consul service discovery.
#
# A dev agent keeps its ACL state in memory, so the tokens are created again on every start.
# Arguments are extra agent flags. Used by infra/compose.yaml, e2e/stack and shared/testinfra.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
secret() { sed -n 's/^CONSUL_HTTP_TOKEN=//p' "$1"; }
management=$(secret "$dir/management.env")
ready=/tmp/tracecart-acl-ready
rm -f "$ready"

consul agent -dev -client 0.0.0.0 -hcl "acl {
  enabled = true
  default_policy = \"deny\"
  down_policy = \"extend-cache\"
  tokens {
    initial_management = \"$management\"
    agent = \"$management\"
  }
}" "$@" &
agent=$!
# Stopping the container stops the agent gracefully, and the script waits for it.
trap 'kill -TERM "$agent" 2>/dev/null; wait "$agent"; exit' TERM INT

export CONSUL_HTTP_TOKEN="$management"
# The management token is usable once the agent has elected itself leader.
until consul acl token read -self >/dev/null 2>&1; do
  kill -0 "$agent" 2>/dev/null || { wait "$agent"; exit 1; }
  sleep 0.2
done

# Create a token unless one with that secret exists already (an agent that kept its state).
# Consul logs each probe for a token that does not exist yet as an "ACL not found" error.
token() { # name secret args...
  name=$1 secret=$2
  shift 2
  if CONSUL_HTTP_TOKEN="$secret" consul acl token read -self >/dev/null 2>&1; then return; fi
  consul acl token create -secret="$secret" -description="tracecart demo: $name" "$@" >/dev/null
}

if ! consul acl policy read -name discovery-read >/dev/null 2>&1; then
  # Prometheus also reads the agent's own description, to learn the datacenter's name.
  consul acl policy create -name discovery-read -description "read the service catalogue" \
    -rules 'service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
agent_prefix "" { policy = "read" }' >/dev/null
fi
for file in "$dir"/tokens/*.env; do
  name=$(basename "$file" .env)
  if [ "$name" = prometheus ]; then
    token "$name" "$(secret "$file")" -policy-name=discovery-read
  else
    token "$name" "$(secret "$file")" -service-identity="$name"
  fi
done
touch "$ready"
echo "tracecart: ACL tokens ready"

wait "$agent"
