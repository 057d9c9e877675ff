#!/usr/bin/env bash
# Measures the gateway's throughput and latency against nginx proxying the same upstream, and
# against calling the upstream directly. Two more targets explain the gap: plainproxy (Go's
# httputil.ReverseProxy with nothing else, the floor of any net/http proxy) and the gateway
# with tracing switched off (OTEL_TRACES_SAMPLER=always_off), which prices tracing. Everything runs on 127.0.0.1; the numbers that matter
# are the ratios, since all three share the machine with the upstream and the load generator.
#
#   bash gateway/bench/bench.sh            # from the repository root
#
# Needs: Go, Docker with the Consul image of infra/images.env (or TRACECART_IMAGES_FILE's),
# and Debian's wrk and nginx-light (apt-get install wrk nginx-light).
# Knobs: DURATION (10s), CONNECTIONS (64), THREADS (2).
#
# The route measured is GET /api/products/{id}: public (no token check) and answered no-store
# by the upstream, so the gateway does its whole job (routing, rate limiting, tracing at 100 %
# sampling, the access log, Consul resolution, breaker, retry policy) except serving from its
# cache, which would not be a fair fight. nginx gets a keep-alive upstream pool and no access
# log, its best case.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-64} THREADS=${THREADS:-2}
for tool in wrk nginx docker go; do command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }; done

images=infra/images.env
consul_image=$(grep -h '^CONSUL_IMAGE=' "$images" ${TRACECART_IMAGES_FILE:-} | tail -1 | cut -d= -f2)
work=$(mktemp -d)
pids=()
consul_container=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$consul_container" ] && docker rm -f "$consul_container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "bench: $1 never answered" >&2; return 1; }

consul_port=$(free_port) upstream_port=$(free_port) nginx_port=$(free_port) gateway_port=$(free_port)
plain_port=$(free_port) untraced_port=$(free_port)

echo "== building"
go build -o "$work/gateway" ./gateway/cmd/gateway
go build -o "$work/upstream" ./gateway/bench/upstream
go build -o "$work/plainproxy" ./gateway/bench/plainproxy

echo "== starting consul ($consul_image), the upstream, nginx and the gateway"
consul_container=$(docker run -d --network host "$consul_image" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
  -http-port "$consul_port" -serf-lan-port "$(free_port)" -serf-wan-port "$(free_port)" -server-port "$(free_port)" \
  -dns-port -1 -grpc-port -1 -hcl 'ports { grpc_tls = -1 }')
"$work/upstream" "127.0.0.1:$upstream_port" & pids+=($!)
wait_http "http://127.0.0.1:$upstream_port/health/ready"
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$consul_port/v1/status/leader" 2>/dev/null | grep -q : && break; sleep 0.2; done
curl -fsS -X PUT "http://127.0.0.1:$consul_port/v1/agent/service/register" -d @- <<JSON
{"Name":"product-service","ID":"bench-upstream","Address":"127.0.0.1","Port":$upstream_port,
 "Check":{"HTTP":"http://127.0.0.1:$upstream_port/health/ready","Interval":"1s"}}
JSON

cat > "$work/nginx.conf" <<NGINX
daemon off;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  upstream products { server 127.0.0.1:$upstream_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location /api/ {
      proxy_pass http://products/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host product-service;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)

"$work/plainproxy" "127.0.0.1:$plain_port" "http://127.0.0.1:$upstream_port" & pids+=($!)

# Traces are sampled at 100 % and go through the SDK's batch processor; only the export is
# left out (OTEL_TRACES_EXPORTER=none), so no collector's speed is measured. The access log
# is written as in production, to a file.
start_gateway() {
  local port=$1; shift
  env "$@" CONSUL_HTTP_ADDR=127.0.0.1:$consul_port HTTP_ADDR=127.0.0.1:$port ADVERTISE_ADDRESS=127.0.0.1 \
    SERVICE_NAME=gateway-$port OTEL_TRACES_EXPORTER=none RATE_LIMIT_RPS=1000000000 RATE_LIMIT_BURST=1000000000 \
    DRAIN_DELAY=0s "$work/gateway" >"$work/gateway-$port.log" 2>&1 & pids+=($!)
}
start_gateway "$gateway_port" OTEL_TRACES_SAMPLER=always_on
start_gateway "$untraced_port" OTEL_TRACES_SAMPLER=always_off
path=/products/00000000-0000-4000-8000-000000000101
for port in "$nginx_port" "$plain_port" "$gateway_port" "$untraced_port"; do wait_http "http://127.0.0.1:$port/api$path"; done

declare -A rps p50 p99
measure() {
  local name=$1 url=$2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$url" >/dev/null # warm up connections and caches
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  echo "--- $name: $url"; echo "$out" | grep -E 'Requests/sec|^ +(50|99)%|Non-2xx|Socket errors' || true
  rps[$name]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50[$name]=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99[$name]=$(echo "$out" | awk '$1=="99%" {print $2}')
}
measure direct "http://127.0.0.1:$upstream_port$path"
measure nginx "http://127.0.0.1:$nginx_port/api$path"
measure plain "http://127.0.0.1:$plain_port/api$path"
measure gateway "http://127.0.0.1:$gateway_port/api$path"
measure untraced "http://127.0.0.1:$untraced_port/api$path"

to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }
echo
echo "== results (wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) CPUs)"
printf '%-8s %12s %10s %10s\n' target 'req/s' 'p50 ms' 'p99 ms'
for n in direct nginx plain gateway untraced; do printf '%-8s %12s %10s %10s\n' "$n" "${rps[$n]}" "$(to_ms "${p50[$n]}")" "$(to_ms "${p99[$n]}")"; done
awk -v g="${rps[gateway]}" -v n="${rps[nginx]}" -v d="${rps[direct]}" -v p="${rps[plain]}" -v u="${rps[untraced]}" \
  'BEGIN { printf "throughput: gateway/nginx = %.2f, gateway/direct = %.2f, nginx/direct = %.2f, plain/nginx = %.2f, gateway/plain = %.2f, traced/untraced gateway = %.2f\n", g/n, g/d, n/d, p/n, g/p, g/u }'
awk -v g="$(to_ms "${p50[gateway]}")" -v n="$(to_ms "${p50[nginx]}")" -v g99="$(to_ms "${p99[gateway]}")" -v n99="$(to_ms "${p99[nginx]}")" \
  'BEGIN { printf "latency:    gateway/nginx p50 = %.2f, p99 = %.2f\n", g/n, g99/n99 }'
