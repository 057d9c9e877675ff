#!/usr/bin/env bash
# Measures the gateway's throughput, latency and CPU cost against nginx proxying the same
# upstream, and against calling the upstream directly. Two more targets explain the gap:
# plainproxy (Go's httputil.ReverseProxy with nothing else, the floor of any net/http proxy) and
# the gateway with tracing switched off (OTEL_TRACES_SAMPLER=always_off), which prices tracing.
# Everything runs on 127.0.0.1.
#
#   bash gateway/bench/bench.sh            # from the repository root
#
# Needs: Go, Docker with the Consul image of infra/images.env (or TRACECART_IMAGES_FILE's),
# and Debian's wrk and nginx (apt-get install wrk nginx).
# Knobs: DURATION (10s), CONNECTIONS (64), THREADS (2), RUNS (3), NGINX_WORKERS (2),
# GATEWAY_BIN (a gateway binary to measure instead of building ./gateway/cmd/gateway, to compare
# two commits), GATEWAY_ENV (extra environment for both gateways, such as "GOGC=200").
#
# Fairness and stability, since the load generator, the upstream and the proxy share the
# machine (and, on a shared machine, other people's work):
#   - nginx's configuration is pinned, not left to "auto": NGINX_WORKERS worker processes (the
#     gateway gets the same number of CPUs through GOMAXPROCS), a keep-alive pool to the
#     upstream, and keep-alive connections that are not closed after nginx's default 1,000
#     requests (Go's server and transport never close them for a count).
#   - Each round measures every target once, one after the other, and there are RUNS rounds,
#     so slow moments of the machine spread over all targets; the table reports the median and
#     the range (min-max) of each figure, and the ratios are taken within a round.
#   - Beside req/s, each proxy's CPU time per 1,000 requests is read from /proc/<pid>/stat
#     (utime + stime, nginx's workers summed). A busy neighbour lowers req/s, but it hardly
#     changes what one request costs, so this is the steadier figure.
#
# The route measured is GET /api/products/{id}: public (no token check) and answered no-store
# by the upstream, so the gateway does its whole job (routing, rate limiting, tracing at 100 %
# sampling, the access log, Consul resolution, breaker, retry policy) except serving from its
# cache, which would not be a fair fight. nginx has no access log, its best case.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-64} THREADS=${THREADS:-2} RUNS=${RUNS:-3}
NGINX_WORKERS=${NGINX_WORKERS:-2} GATEWAY_BIN=${GATEWAY_BIN:-} GATEWAY_ENV=${GATEWAY_ENV:-}
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
[ -n "${BENCH_KEEP_LOGS:-}" ] && trap 'cp "$work"/*.log "$BENCH_KEEP_LOGS"/ 2>/dev/null; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "bench: $1 never answered" >&2; return 1; }

consul_port=$(free_port) upstream_port=$(free_port) nginx_port=$(free_port) gateway_port=$(free_port)
plain_port=$(free_port) untraced_port=$(free_port)

echo "== building"
if [ -n "$GATEWAY_BIN" ]; then cp "$GATEWAY_BIN" "$work/gateway"; else go build -o "$work/gateway" ./gateway/cmd/gateway; fi
go build -o "$work/upstream" ./gateway/bench/upstream
go build -o "$work/plainproxy" ./gateway/bench/plainproxy

echo "== starting consul ($consul_image), the upstream, nginx and the gateway"
consul_container=$(docker run -d --network host "$consul_image" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
  -http-port "$consul_port" -serf-lan-port "$(free_port)" -serf-wan-port "$(free_port)" -server-port "$(free_port)" \
  -dns-port -1 -grpc-port -1 -hcl 'ports { grpc_tls = -1 }')
"$work/upstream" "127.0.0.1:$upstream_port" & pids+=($!); upstream_pid=$!
wait_http "http://127.0.0.1:$upstream_port/health/ready"
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$consul_port/v1/status/leader" 2>/dev/null | grep -q : && break; sleep 0.2; done
curl -fsS -X PUT "http://127.0.0.1:$consul_port/v1/agent/service/register" -d @- <<JSON
{"Name":"product-service","ID":"bench-upstream","Address":"127.0.0.1","Port":$upstream_port,
 "Check":{"HTTP":"http://127.0.0.1:$upstream_port/health/ready","Interval":"1s"}}
JSON

cat > "$work/nginx.conf" <<NGINX
daemon off;
worker_processes $NGINX_WORKERS;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000; keepalive_timeout 75s;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  upstream products { server 127.0.0.1:$upstream_port; keepalive 128; keepalive_requests 1000000; keepalive_timeout 60s; }
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
nginx -c "$work/nginx.conf" -p "$work" & pids+=($!); nginx_pid=$!

"$work/plainproxy" "127.0.0.1:$plain_port" "http://127.0.0.1:$upstream_port" & pids+=($!); plain_pid=$!

# Traces are sampled at 100 % and go through the SDK's batch processor; only the export is
# left out (OTEL_TRACES_EXPORTER=none), so no collector's speed is measured. The access log
# is written as in production, to a file.
start_gateway() {
  local port=$1; shift
  # shellcheck disable=SC2086 # GATEWAY_ENV is a list of NAME=value words
  env "$@" $GATEWAY_ENV CONSUL_HTTP_ADDR=127.0.0.1:$consul_port HTTP_ADDR=127.0.0.1:$port INTERNAL_HTTP_ADDR=127.0.0.1:$(free_port) ADVERTISE_ADDRESS=127.0.0.1 \
    SERVICE_NAME=gateway-$port OTEL_TRACES_EXPORTER=none RATE_LIMIT_RPS=1000000000 RATE_LIMIT_BURST=1000000000 \
    DRAIN_DELAY=0s "$work/gateway" >"$work/gateway-$port.log" 2>&1 & pids+=($!)
}
start_gateway "$gateway_port" OTEL_TRACES_SAMPLER=always_on; gateway_pid=$!
start_gateway "$untraced_port" OTEL_TRACES_SAMPLER=always_off; untraced_pid=$!
path=/products/00000000-0000-4000-8000-000000000101
for port in "$nginx_port" "$plain_port" "$gateway_port" "$untraced_port"; do wait_http "http://127.0.0.1:$port/api$path"; done


# cpu_ticks PID... prints the CPU time (user + system, in clock ticks) the processes have used.
cpu_ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done; echo "$t"; }
ticks_per_s=$(getconf CLK_TCK)
nginx_procs() { echo "$nginx_pid" $(pgrep -P "$nginx_pid"); }

targets=(direct nginx plain gateway untraced)
declare -A url procs
url[direct]="http://127.0.0.1:$upstream_port$path";       procs[direct]="$upstream_pid"
url[nginx]="http://127.0.0.1:$nginx_port/api$path";       procs[nginx]="$(nginx_procs)"
url[plain]="http://127.0.0.1:$plain_port/api$path";       procs[plain]="$plain_pid"
url[gateway]="http://127.0.0.1:$gateway_port/api$path";   procs[gateway]="$gateway_pid"
url[untraced]="http://127.0.0.1:$untraced_port/api$path"; procs[untraced]="$untraced_pid"

results=$work/results.tsv # round, target, req/s, p50 ms, p99 ms, CPU ms per 1,000 requests
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }
measure() {
  local round=$1 name=$2 u=${url[$2]}
  # shellcheck disable=SC2086 # procs holds a list of PIDs
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$u" >/dev/null # warm up connections and caches
  local before after out; before=$(cpu_ticks ${procs[$name]})
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$u")
  after=$(cpu_ticks ${procs[$name]})
  if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then echo "--- round $round, $name:"; echo "$out" | grep -E 'Non-2xx|Socket errors'; fi
  local requests rps p50 p99
  requests=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" { print $2 }')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" { print $2 }')")
  awk -v r="$round" -v n="$name" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v req="$requests" -v d=$((after - before)) -v hz="$ticks_per_s" \
    'BEGIN { printf "%s\t%s\t%s\t%s\t%s\t%.1f\n", r, n, rps, p50, p99, d / hz * 1000 / (req / 1000) }' | tee -a "$results"
}
echo "== measuring: $RUNS rounds of ${targets[*]} (round, target, req/s, p50 ms, p99 ms, CPU ms/1k req)"
for round in $(seq "$RUNS"); do for name in "${targets[@]}"; do measure "$round" "$name"; done; done

# summary COLUMN: median and range of a column per target.
summary() {
  awk -F'\t' -v col="$1" -v t="$2" '$2 == t { v[++n] = $col } END {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
    m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    printf "%s (%s-%s)", m, v[1], v[n] }' "$results"
}
# ratio A B COLUMN: per-round A/B of a column, as median (min-max).
ratio() {
  awk -F'\t' -v a="$1" -v b="$2" -v col="$3" '$2 == a { x[$1] = $col } $2 == b { y[$1] = $col } END {
    for (r in x) if (y[r] > 0) v[++n] = x[r] / y[r]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    printf "%.2f (%.2f-%.2f)", m, v[1], v[n] }' "$results"
}
echo
echo "== results (wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $RUNS rounds, $(nproc) CPUs, nginx workers $NGINX_WORKERS${GATEWAY_ENV:+, gateway $GATEWAY_ENV}): median (min-max)"
printf '| %s | %s | %s | %s | %s |\n' target req/s 'p50 ms' 'p99 ms' 'CPU ms / 1k req'
printf '| --- | --- | --- | --- | --- |\n'
for n in "${targets[@]}"; do
  printf '| %s | %s | %s | %s | %s |\n' "$n" "$(summary 3 "$n")" "$(summary 4 "$n")" "$(summary 5 "$n")" "$(summary 6 "$n")"
done
echo
echo "gateway/nginx req/s:        $(ratio gateway nginx 3)"
echo "plain/nginx req/s:          $(ratio plain nginx 3)"
echo "traced/untraced req/s:      $(ratio gateway untraced 3)"
echo "gateway/nginx CPU per req:  $(ratio gateway nginx 6)"
echo "untraced/nginx CPU per req: $(ratio untraced nginx 6)"
echo "traced/untraced CPU per req: $(ratio gateway untraced 6)"
