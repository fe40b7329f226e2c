#!/usr/bin/env bash
# peers.sh measures the cxloop collector beside Alertmanager, the nearest
# peer that accepts events over HTTP and fans them out, with the same load
# tool (hack/loadgen) and the same body size, on this machine and in one
# run. It is not part of make test: it builds Alertmanager from its Go
# module (the Go module proxy is all it needs) and takes a few minutes.
#
#   hack/peers.sh                      # 20,000 requests from 64 connections, 2 rounds
#   N=50000 C=128 ROUNDS=3 hack/peers.sh
#
# Alertmanager runs in memory (not durable) with one group and one webhook
# per alert (group_by: ['...'], group_wait: 0s) to a local sink; the
# collector stores every response durably (SQLite, synchronous=FULL) before
# it answers 202. Each row: requests/s, p50 and p99 latency, peak RSS
# (VmHWM). Everything listens on 127.0.0.1 and is stopped at the end.
set -euo pipefail

AM_VERSION=${AM_VERSION:-v0.34.0}
N=${N:-20000}
C=${C:-64}
ROUNDS=${ROUNDS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building alertmanager $AM_VERSION, cxloop and loadgen in $WORK/bin" >&2
# The module holds the web UI's sources but not its built assets, which
# the binary embeds: build from a copy with a placeholder page (the UI is
# not part of the measurement).
am_src=$(cd "$WORK" && go mod download -json "github.com/prometheus/alertmanager@$AM_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$am_src" "$WORK/alertmanager-src" && chmod -R u+w "$WORK/alertmanager-src"
mkdir -p "$WORK/alertmanager-src/ui/app/dist"
echo '<!doctype html><title>Alertmanager</title>' > "$WORK/alertmanager-src/ui/app/dist/index.html"
(cd "$WORK/alertmanager-src" && go build -o "$WORK/bin/alertmanager" ./cmd/alertmanager)
(cd "$ROOT" && go build -o "$WORK/bin/cxloop" . && go build -o "$WORK/bin/loadgen" ./hack/loadgen)

# wait_ready URL: poll until it answers 200 (30 s at most).
wait_ready() {
	for _ in $(seq 300); do
		if curl -sf -o /dev/null "$1"; then return 0; fi
		sleep 0.1
	done
	echo "peers.sh: $1 did not become ready" >&2
	return 1
}

peak_rss_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# The collector's body: a response of the shape the demo posts.
cat > "$WORK/response.json" <<'JSON'
{"id":"{{ID}}","customer":{"id":"C-{{ID}}","tier":"Gold","attributes":{"region":"emea"}},"answers":{"completed":false,"ease":3},"comment":"The installer stopped at 80 percent and I gave up. Second time this month.","metadata":{"store":"berlin","agent":"ana"}}
JSON
# Alertmanager's body: one alert, padded to the same size.
am_body='[{"labels":{"alertname":"ResponseMatched","id":"{{ID}}","touchpoint":"upgrade-install","store":"berlin"},"annotations":{"comment":"PAD"}}]'
pad=$(( $(tr -d '\n' < "$WORK/response.json" | wc -c) - ${#am_body} + 3 ))
printf '%s' "${am_body/PAD/$(printf '%*s' "$pad" '' | tr ' ' x)}" > "$WORK/alert.json"

cat > "$WORK/collector.json" <<JSON
{"namespace":"peers","touchpoint":"upgrade-install","store":"sqlite","sqlitePath":"$WORK/collector/responses.db",
 "listenAddress":"127.0.0.1:18080","privateListenAddress":"127.0.0.1:18081","generation":1,
 "spec":{"channel":"Email","questions":[
   {"id":"ease","text":"How easy was it to install?","type":"Rating","scale":{"min":1,"max":10}},
   {"id":"completed","text":"Were you able to complete the installation?","type":"YesNo","required":true}],
  "comment":{"enabled":true,"maxLength":2000}}}
JSON

"$WORK/bin/loadgen" -sink 127.0.0.1:18099 & PIDS+=($!)
cat > "$WORK/alertmanager.yml" <<YAML
route:
  receiver: sink
  group_by: ['...']
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
receivers:
- name: sink
  webhook_configs:
  - url: http://127.0.0.1:18099/
YAML

printf '%-14s %6s %10s %9s %9s %9s %8s\n' peer round "req/s" "p50 ms" "p99 ms" "peak MiB" failed
for round in $(seq "$ROUNDS"); do
	rm -rf "$WORK/am" "$WORK/collector"; mkdir -p "$WORK/am" "$WORK/collector"

	"$WORK/bin/alertmanager" --config.file="$WORK/alertmanager.yml" --storage.path="$WORK/am" \
		--web.listen-address=127.0.0.1:19093 --cluster.listen-address= --log.level=warn 2>"$WORK/am.log" & am=$!; PIDS+=($am)
	wait_ready http://127.0.0.1:19093/-/ready
	out=$("$WORK/bin/loadgen" -url http://127.0.0.1:19093/api/v2/alerts -body "$WORK/alert.json" -n "$N" -c "$C" -label alertmanager)
	rss=$(peak_rss_mib "$am"); kill "$am"; wait "$am" 2>/dev/null || true
	echo "$out" | awk -v r="$round" -v rss="$rss" -F'[,:}]' '{for(i=1;i<=NF;i++){g=$i;gsub(/[" {]/,"",g);v[g]=$(i+1)}} END{printf "%-14s %6s %10.0f %9.1f %9.1f %9s %8s\n","alertmanager",r,v["perSecond"],v["p50ms"],v["p99ms"],rss,v["failed"]}'

	CXLOOP_API_TOKEN=peers-private-token "$WORK/bin/cxloop" collector --standalone --config "$WORK/collector.json" 2>"$WORK/collector.log" & col=$!; PIDS+=($col)
	wait_ready http://127.0.0.1:18080/readyz
	out=$("$WORK/bin/loadgen" -url http://127.0.0.1:18080/v1/responses -body "$WORK/response.json" -n "$N" -c "$C" -label collector)
	rss=$(peak_rss_mib "$col"); kill "$col"; wait "$col" 2>/dev/null || true
	echo "$out" | awk -v r="$round" -v rss="$rss" -F'[,:}]' '{for(i=1;i<=NF;i++){g=$i;gsub(/[" {]/,"",g);v[g]=$(i+1)}} END{printf "%-14s %6s %10.0f %9.1f %9.1f %9s %8s\n","cxloop",r,v["perSecond"],v["p50ms"],v["p99ms"],rss,v["failed"]}'
done
echo "bodies: $(wc -c < "$WORK/response.json") bytes (collector), $(wc -c < "$WORK/alert.json") bytes (alertmanager); $N requests from $C connections per row" >&2
