#!/usr/bin/env bash
# metrics_bench.sh - the metrics path side by side with Prometheus 2.42, in one
# run on this machine: the real meshlens binary (Release) and a real Prometheus
# server (--web.enable-remote-write-receiver), each with its own temporary data
# directory on loopback, fed the same remote-write bodies by rw_loadgen.
#
#   a. ingest throughput (samples/s) at $SERIES active series: one warm-up
#      round creates the series, then $ROUNDS-1 rounds are timed; $RUNS runs per
#      server, alternating which server goes first; medians and their ratio.
#   b. bytes per sample on disk after compaction, on the same samples: two hours
#      of 15 s scrapes of $BYTES_SERIES series, backfilled from 30 h ago.
#      meshlens: its maintenance flushes the (idle) series and recompresses the
#      cold chunks with zstd; then the store is copied with `mdb_copy -c` (live
#      pages only) and divided by the samples. Prometheus: it is sent 3 h 15 min
#      so that its head compacts the first two hours into a block; the block's
#      size on disk (chunks + index + meta) is divided by its numSamples. Both
#      figures include the index and cover exactly the same samples.
#   c. resident memory per active series at $RSS_SERIES series: two scrapes of
#      every series, then VmRSS from /proc/<pid>/status (also minus the RSS of
#      the idle server).
#
# Usage: tests/bench/metrics_bench.sh [results.md]
# Environment: BUILD (default build-bench-metrics), PROMETHEUS_BIN, RUNS=3,
# SERIES=100000, ROUNDS=11, CONNS=8, BYTES_SERIES=10000, RSS_SERIES=1000000,
# SKIP_BUILD=1. A full run takes 6-10 minutes; it is not run by ctest.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench-metrics}
PROM=${PROMETHEUS_BIN:-/usr/bin/prometheus}
RUNS=${RUNS:-3}
SERIES=${SERIES:-100000}
ROUNDS=${ROUNDS:-11}
CONNS=${CONNS:-8}
BYTES_SERIES=${BYTES_SERIES:-10000}
RSS_SERIES=${RSS_SERIES:-1000000}
RESULTS=${1:-$BUILD/metrics_bench.md}
PORT_ML=${PORT_ML:-19411}
PORT_PROM=${PORT_PROM:-19412}

TMP=$(mktemp -d /tmp/ml_metrics_bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

log() { echo "metrics_bench: $*" >&2; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF \
		-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized >/dev/null
	cmake --build "$BUILD" -j2 --target meshlens bench_rw_loadgen >/dev/null
fi
ML="$BUILD/meshlens"
GEN="$BUILD/tests/bench/rw_loadgen"
[ -x "$ML" ] && [ -x "$GEN" ] || { log "missing $ML or $GEN"; exit 1; }
[ -x "$PROM" ] || { log "no Prometheus at $PROM"; exit 1; }
printf 'global:\n  scrape_interval: 1h\n' >"$TMP/prometheus.yml"

wait_ready() { # port pid
	for _ in $(seq 1 300); do
		curl -sf "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1 && return 0
		kill -0 "$2" 2>/dev/null || { log "server on port $1 died"; return 1; }
		sleep 0.1
	done
	log "server on port $1 not ready"
	return 1
}

SRV_PID=
start_server() { # meshlens|prometheus dir
	mkdir -p "$2"
	if [ "$1" = meshlens ]; then
		"$ML" --web.listen-address=127.0.0.1:$PORT_ML --storage.path="$2" --log.level=warn \
			>"$2.log" 2>&1 &
		SRV_PID=$!
		PIDS+=("$SRV_PID")
		wait_ready $PORT_ML $SRV_PID
	else
		"$PROM" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$2" \
			--web.listen-address=127.0.0.1:$PORT_PROM --web.enable-remote-write-receiver \
			--log.level=warn >"$2.log" 2>&1 &
		SRV_PID=$!
		PIDS+=("$SRV_PID")
		wait_ready $PORT_PROM $SRV_PID
	fi
}

stop_server() { # pid
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
}

port_of() { [ "$1" = meshlens ] && echo $PORT_ML || echo $PORT_PROM; }
# CPU seconds (user + system) of a process.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
field() { # line key
	sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"
}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

{
	echo "## Metrics path vs Prometheus"
	echo
	echo "Written by \`tests/bench/metrics_bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$(git -C "$ROOT" rev-parse --short HEAD)\`."
	echo
	echo "### Machine"
	echo
	echo '```'
	echo "nproc: $(nproc)"
	lscpu | head -n 15
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "disk: $(df -h "$TMP" | awk 'NR==2 {print $1, $2, "(" $5 " used)"}'), $(findmnt -no FSTYPE -T "$TMP")"
	echo "kernel: $(uname -r)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "prometheus: $("$PROM" --version 2>&1 | head -n1)"
	echo '```'
	echo
} >"$RESULTS"

# --- a. throughput ----------------------------------------------------------------
log "throughput: $SERIES series, $ROUNDS rounds, $CONNS senders, $RUNS runs per server"
{
	echo "### a. Ingest throughput, $SERIES active series"
	echo
	echo "Remote write 1.0, 2000 samples per request (one sample of each of 2000 series), $CONNS concurrent"
	echo "keep-alive senders, bodies built before the clock starts. Round 1 creates the series (\"create\");"
	echo "rounds 2-$ROUNDS are timed as \"steady\". CPU µs/sample: CPU seconds of the server process during the"
	echo "phase (/proc/<pid>/stat) per sample - what the throughput would be on an idle machine does not"
	echo "depend on the other processes, this does less."
	echo
	echo "| run | server | create samples/s | create CPU µs/sample | steady samples/s | steady CPU µs/sample | steady p50 ms | steady p99 ms | failed requests |"
	echo "|---|---|---|---|---|---|---|---|---|"
} >>"$RESULTS"
: >"$TMP/tp_meshlens" >"$TMP/tp_prometheus" >"$TMP/cpu_meshlens" >"$TMP/cpu_prometheus"
for run in $(seq 1 "$RUNS"); do
	if [ $((run % 2)) = 1 ]; then order="meshlens prometheus"; else order="prometheus meshlens"; fi
	for srv in $order; do
		dir="$TMP/tp_${srv}_$run"
		start_server "$srv" "$dir"
		out=$("$GEN" --target 127.0.0.1:"$(port_of "$srv")" --series "$SERIES" --rounds "$ROUNDS" \
			--warmup-rounds 1 --connections "$CONNS" --seed "$run" --pid "$SRV_PID" || true)
		stop_server "$SRV_PID"
		create=$(grep '^phase=create' <<<"$out")
		steady=$(grep '^phase=steady' <<<"$out")
		failed=$(( $(field "$create" failed) + $(field "$steady" failed) ))
		sps=$(field "$steady" samples_per_s)
		echo "$sps" >>"$TMP/tp_$srv"
		field "$steady" server_cpu_us_per_sample >>"$TMP/cpu_$srv"
		log "run $run $srv: create $(field "$create" samples_per_s)/s steady $sps/s failed $failed $(field "$steady" first_error)"
		echo "| $run | $srv | $(field "$create" samples_per_s) | $(field "$create" server_cpu_us_per_sample) | $sps | $(field "$steady" server_cpu_us_per_sample) | $(field "$steady" p50_ms) | $(field "$steady" p99_ms) | $failed |" >>"$RESULTS"
		rm -rf "$dir"
	done
done
ml_med=$(median <"$TMP/tp_meshlens")
pr_med=$(median <"$TMP/tp_prometheus")
ml_cpu=$(median <"$TMP/cpu_meshlens")
pr_cpu=$(median <"$TMP/cpu_prometheus")
{
	echo
	echo "Medians of steady ingest: meshlens **$ml_med samples/s**, Prometheus **$pr_med samples/s**, ratio **$(awk -v a="$ml_med" -v b="$pr_med" 'BEGIN {printf "%.2f", b ? a / b : 0}')x** (target >= 2x)."
	echo "Medians of server CPU per steady sample: meshlens **$ml_cpu µs**, Prometheus **$pr_cpu µs**, ratio (Prometheus / meshlens) **$(awk -v a="$ml_cpu" -v b="$pr_cpu" 'BEGIN {printf "%.2f", a ? b / a : 0}')x**."
	echo
} >>"$RESULTS"

# --- b. bytes per sample ------------------------------------------------------------
T0=$(( ( ($(date +%s) - 30 * 3600) / 7200 ) * 7200 * 1000 ))
BYTES_SAMPLES=$(( BYTES_SERIES * 480 ))
log "bytes/sample: $BYTES_SERIES series x 480 scrapes from t0=$T0"
dir="$TMP/bytes_meshlens"
start_server meshlens "$dir"
out=$("$GEN" --target 127.0.0.1:$PORT_ML --series "$BYTES_SERIES" --rounds 480 --warmup-rounds 0 \
	--samples-per-series 10 --t0-ms "$T0" --connections 1 --prebuild=0 --seed 7)
log "meshlens: $(grep '^phase=steady' <<<"$out")"
# Maintenance runs every 10 s: the series are idle (their newest sample is 28 h
# old), so their chunks are written and then recompressed as cold.
for _ in $(seq 1 120); do
	wal=$(mdb_stat -s tsdb_wal "$dir" 2>/dev/null | awk '/Entries:/ {print $2}')
	chunks=$(mdb_stat -s chunks "$dir" 2>/dev/null | awk '/Entries:/ {print $2}')
	[ "${wal:-1}" = 0 ] && [ -n "$chunks" ] && [ "$chunks" -le "$BYTES_SERIES" ] && [ "$chunks" -gt 0 ] && break
	sleep 1
done
log "meshlens store: wal records $wal, chunk records $chunks"
stop_server "$SRV_PID"
mkdir -p "$TMP/bytes_copy"
mdb_copy -c "$dir" "$TMP/bytes_copy"
ml_bytes=$(stat -c %s "$TMP/bytes_copy/data.mdb")
ml_file=$(stat -c %s "$dir/data.mdb")
mdb_stat -a "$TMP/bytes_copy" >"$TMP/ml_stat.txt"
# Payload bytes as opposed to pages: mdb_dump prints each key and value as one hex line.
dump_bytes() { # db key|value
	mdb_dump -s "$1" "$TMP/bytes_copy" | awk -v want="$2" '/^ / {n++; if ((want == "key") == (n % 2 == 1)) b += length($1) / 2} END {print b + 0}'
}
ml_chunk_vbytes=$(dump_bytes chunks value)
ml_series_vbytes=$(dump_bytes series value)
ml_post_kbytes=$(dump_bytes postings key)

dir="$TMP/bytes_prometheus"
start_server prometheus "$dir"
out=$("$GEN" --target 127.0.0.1:$PORT_PROM --series "$BYTES_SERIES" --rounds 780 --warmup-rounds 0 \
	--samples-per-series 10 --t0-ms "$T0" --connections 1 --prebuild=0 --seed 7)
log "prometheus: $(grep '^phase=steady' <<<"$out")"
block=
for _ in $(seq 1 180); do
	block=$(find "$dir" -mindepth 2 -maxdepth 2 -name meta.json -printf '%h\n' 2>/dev/null | head -n1)
	[ -n "$block" ] && break
	sleep 1
done
[ -n "$block" ] || { log "Prometheus wrote no block"; exit 1; }
sleep 2
pr_samples=$(sed -n 's/.*"numSamples": *\([0-9]*\).*/\1/p' "$block/meta.json")
pr_series=$(sed -n 's/.*"numSeries": *\([0-9]*\).*/\1/p' "$block/meta.json")
pr_bytes=$(du -sb "$block" | cut -f1)
pr_chunks=$(du -sb "$block/chunks" | cut -f1)
pr_index=$(stat -c %s "$block/index")
stop_server "$SRV_PID"
{
	echo "### b. Bytes per sample on disk after compaction"
	echo
	echo "$BYTES_SERIES series x 480 scrapes (2 h at 15 s) = $BYTES_SAMPLES samples, backfilled with 10 consecutive"
	echo "scrapes of 200 series per request (t0 = $T0, 30 h ago, aligned to 2 h)."
	echo
	echo "| | samples | bytes | bytes/sample |"
	echo "|---|---|---|---|"
	echo "| meshlens, compacted copy (\`mdb_copy -c\`: series, postings, chunks, metadata) | $BYTES_SAMPLES | $ml_bytes | $(awk -v a="$ml_bytes" -v b="$BYTES_SAMPLES" 'BEGIN {printf "%.3f", a / b}') |"
	echo "| meshlens, data.mdb as left (with the pages freed by the WAL) | $BYTES_SAMPLES | $ml_file | $(awk -v a="$ml_file" -v b="$BYTES_SAMPLES" 'BEGIN {printf "%.3f", a / b}') |"
	echo "| Prometheus block (chunks + index + meta), $pr_series series | $pr_samples | $pr_bytes | $(awk -v a="$pr_bytes" -v b="$pr_samples" 'BEGIN {printf "%.3f", a / b}') |"
	echo "| Prometheus block, chunks only | $pr_samples | $pr_chunks | $(awk -v a="$pr_chunks" -v b="$pr_samples" 'BEGIN {printf "%.3f", a / b}') |"
	echo "| Prometheus block, index only | $pr_samples | $pr_index | $(awk -v a="$pr_index" -v b="$pr_samples" 'BEGIN {printf "%.3f", a / b}') |"
	echo
	echo "meshlens databases in the compacted copy (\`mdb_stat -a\`; pages of 4096 bytes):"
	echo
	echo "| database | entries | pages (branch + leaf + overflow) | bytes/sample |"
	echo "|---|---|---|---|"
	awk -v n="$BYTES_SAMPLES" '
		/^Status of / {name = $3}
		/Branch pages:/ {b = $3}
		/Leaf pages:/ {l = $3}
		/Overflow pages:/ {o = $3}
		/Entries:/ {if (name != "Main" && $2 > 0) printf "| %s | %d | %d + %d + %d | %.3f |\n", name, $2, b, l, o, (b + l + o) * 4096 / n}
	' "$TMP/ml_stat.txt"
	awk -v n="$BYTES_SAMPLES" -v total="$ml_bytes" '
		/^Status of / {name = $3}
		/Branch pages:/ {b = $3}
		/Leaf pages:/ {l = $3}
		/Overflow pages:/ {o = $3}
		/Entries:/ {sum += b + l + o}
		END {printf "| other pages: the duplicate pages of \`postings\` (not counted by mdb_stat), free list, meta | | %d | %.3f |\n", total / 4096 - sum, (total - sum * 4096) / n}
	' "$TMP/ml_stat.txt"
	echo
	echo "Value bytes in \`chunks\` (what the encoder produced, before LMDB's page overhead): $ml_chunk_vbytes"
	echo "($(awk -v a="$ml_chunk_vbytes" -v b="$BYTES_SAMPLES" 'BEGIN {printf "%.3f", a / b}') bytes/sample); label sets in \`series\`: $ml_series_vbytes bytes; \`postings\` keys: $ml_post_kbytes bytes."
	echo
} >>"$RESULTS"

# --- c. memory per active series ----------------------------------------------------
log "memory: $RSS_SERIES series x 2 scrapes"
{
	echo "### c. Resident memory per active series, $RSS_SERIES series"
	echo
	echo "Two scrapes of every series (remote write as in a.), then 5 s of rest; VmRSS of the server."
	echo
	echo "| server | RSS idle MiB | RSS after MiB | of which anonymous / file-backed MiB | peak (VmHWM) MiB | bytes/series (RSS / series) | bytes/series ((RSS - idle) / series) | anonymous bytes/series | load seconds | failed requests |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
} >>"$RESULTS"
for srv in meshlens prometheus; do
	dir="$TMP/rss_$srv"
	start_server "$srv" "$dir"
	sleep 1
	idle=$(rss_kib "$SRV_PID")
	t1=$(date +%s.%N)
	out=$("$GEN" --target 127.0.0.1:"$(port_of "$srv")" --series "$RSS_SERIES" --rounds 2 --warmup-rounds 1 \
		--connections "$CONNS" --seed 3 || true)
	t2=$(date +%s.%N)
	sleep 5
	rss=$(rss_kib "$SRV_PID")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SRV_PID/status")
	anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$SRV_PID/status")
	file=$(awk '/^RssFile:/ {print $2}' "/proc/$SRV_PID/status")
	failed=$(( $(field "$(grep '^phase=create' <<<"$out")" failed) + $(field "$(grep '^phase=steady' <<<"$out")" failed) ))
	log "$srv: idle $idle KiB, after $rss KiB, failed $failed"
	stop_server "$SRV_PID"
	awk -v s="$srv" -v i="$idle" -v r="$rss" -v h="$hwm" -v an="$anon" -v fi="$file" -v n="$RSS_SERIES" -v t="$(awk -v a="$t1" -v b="$t2" 'BEGIN {print b - a}')" -v f="$failed" \
		'BEGIN {printf "| %s | %.0f | %.0f | %.0f / %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %d |\n", s, i / 1024, r / 1024, an / 1024, fi / 1024, h / 1024, r * 1024 / n, (r - i) * 1024 / n, an * 1024 / n, t, f}' >>"$RESULTS"
	rm -rf "$dir"
done
{
	echo
	echo "### Commands"
	echo
	echo '```'
	echo "tests/bench/metrics_bench.sh   # RUNS=$RUNS SERIES=$SERIES ROUNDS=$ROUNDS CONNS=$CONNS BYTES_SERIES=$BYTES_SERIES RSS_SERIES=$RSS_SERIES"
	echo "meshlens --web.listen-address=127.0.0.1:$PORT_ML --storage.path=<fresh dir> --log.level=warn"
	echo "prometheus --config.file=<empty scrape config> --storage.tsdb.path=<fresh dir> --web.listen-address=127.0.0.1:$PORT_PROM --web.enable-remote-write-receiver"
	echo "rw_loadgen --target <server> --series $SERIES --rounds $ROUNDS --warmup-rounds 1 --connections $CONNS --seed <run>"
	echo "rw_loadgen --target <server> --series $BYTES_SERIES --rounds 480|780 --warmup-rounds 0 --samples-per-series 10 --t0-ms <30 h ago> --connections 1 --prebuild=0 --seed 7"
	echo "rw_loadgen --target <server> --series $RSS_SERIES --rounds 2 --warmup-rounds 1 --connections $CONNS --seed 3"
	echo '```'
	echo
	echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$RESULTS"
cat "$RESULTS"
