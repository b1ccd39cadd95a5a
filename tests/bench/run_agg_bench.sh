#!/usr/bin/env bash
# run_agg_bench.sh - what span aggregation costs: the aggregation benchmark,
# start to finish, written into docs/BENCHMARKS.md (section "Span aggregation").
#
# Builds meshlens and the bench tools in Release (build-agg-rel), then:
#   1. agg_bench: CPU ns per span of ml_aggregator_spans (span metrics, Istio
#      metrics, pairing, service graph) on one thread, OTLP and Zipkin bodies;
#   2. durable ingest with aggregation on and off (--aggregation.disabled),
#      RUNS runs of DURATION seconds per format and mode, on and off taking
#      turns so that a change in the machine's load hits both alike, each
#      against a fresh meshlens on 127.0.0.1 with a fresh --storage.path,
#      as fast as possible over CONNS keep-alive connections (loadgen);
#      medians of spans/s and of meshlens CPU microseconds per acked span.
# Machine facts and the exact commands go into the document with the figures.
#
# Usage: tests/bench/run_agg_bench.sh [--no-doc]
# Environment overrides: RUNS DURATION CONNS PORT BUILD SPANS_PER_REQUEST
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-agg-rel}
PORT=${PORT:-14418}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
SPANS_PER_REQUEST=${SPANS_PER_REQUEST:-100}
DOC=$ROOT/docs/BENCHMARKS.md
WRITE_DOC=1
for a in "$@"; do
	case "$a" in
	--no-doc) WRITE_DOC=0 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "unknown argument $a (see --help)" >&2; exit 2 ;;
	esac
done

TMP=$(mktemp -d /tmp/meshlens-aggbench.XXXXXX)
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
log() { echo "== $*" >&2; }
run() { echo "$*" >>"$TMP/commands"; "$@"; }

log "building Release in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF \
	-DCMAKE_C_FLAGS="-Wno-error=maybe-uninitialized" >/dev/null
cmake --build "$BUILD" -j2 --target meshlens bench_loadgen bench_agg_bench >/dev/null
echo "cmake -S . -B build-agg-rel -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF -DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized && cmake --build build-agg-rel -j2 --target meshlens bench_loadgen bench_agg_bench" >"$TMP/commands"
MESHLENS=$BUILD/meshlens
LOADGEN=$BUILD/tests/bench/loadgen
AGGB=$BUILD/tests/bench/agg_bench
HZ=$(getconf CLK_TCK)
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | sed -n 1p; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

start_server() { # start_server DIR [extra flags]
	local dir=$1; shift
	"$MESHLENS" --web.listen-address=127.0.0.1:$PORT --storage.path="$dir" --log.level=warn "$@" \
		>>"$TMP/meshlens.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 300); do
		if curl -sf -o /dev/null "http://127.0.0.1:$PORT/-/ready"; then return 0; fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "meshlens did not become ready" >&2; tail -20 "$TMP/meshlens.log" >&2; exit 1
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

# ---- 1. cost per span on one thread ----------------------------------------------
log "agg_bench"
AB_OTLP=$(run "$AGGB" --format otlp --seconds 3 | grep '^RESULT')
AB_ZIP=$(run "$AGGB" --format zipkin --seconds 3 | grep '^RESULT')
AB_OTEL=$(run "$AGGB" --format otlp --seconds 3 --span-metrics-names otel | grep '^RESULT')

# ---- 2. ingest with aggregation on and off ---------------------------------------
declare -A TPUT CPUUS
ROWS=""
for fmt in otlp zipkin; do
	for r in $(seq 1 "$RUNS"); do
		# on/off order alternates from run to run
		if [ $((r % 2)) = 1 ]; then modes="on off"; else modes="off on"; fi
		for mode in $modes; do
			log "ingest $fmt run $r/$RUNS, aggregation $mode ($DURATION s)"
			dir="$TMP/data-$fmt-$r-$mode"
			if [ "$mode" = off ]; then start_server "$dir" --aggregation.disabled; else start_server "$dir"; fi
			c0=$(cpu_ticks "$SERVER_PID")
			out=$(run "$LOADGEN" --target 127.0.0.1:$PORT --format $fmt --connections "$CONNS" \
				--spans-per-request "$SPANS_PER_REQUEST" --duration "$DURATION" --seed "$r" 2>&1) || true
			c1=$(cpu_ticks "$SERVER_PID")
			stop_server
			rm -rf "$dir"
			res=$(grep '^RESULT' <<<"$out" || true)
			[ -n "$res" ] || { echo "$out" >&2; exit 1; }
			acked=$(field "$res" spans_acked)
			key="$fmt.$mode.$r"
			TPUT[$key]=$(field "$res" spans_per_s)
			CPUUS[$key]=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v n="$acked" 'BEGIN {printf "%.2f", (n > 0) ? (b-a)/hz/n*1e6 : 0}')
			ROWS+="| $fmt | $r | $mode | $acked | ${TPUT[$key]} | $(field "$res" lat_p50_ms) | $(field "$res" lat_p99_ms) | ${CPUUS[$key]} | $(cut -d' ' -f1 /proc/loadavg) |"$'\n'
		done
	done
done
med() { # med fmt mode ARRAY
	local -n arr=$3
	for r in $(seq 1 "$RUNS"); do echo "${arr[$1.$2.$r]}"; done | median
}
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
summary_row() { # fmt
	local ton toff con coff
	ton=$(med "$1" on TPUT); toff=$(med "$1" off TPUT)
	con=$(med "$1" on CPUUS); coff=$(med "$1" off CPUUS)
	local tloss cshare
	tloss=$(awk -v a="$ton" -v b="$toff" 'BEGIN {printf "%.1f", (b > 0) ? 100*(1-a/b) : 0}')
	cshare=$(awk -v a="$con" -v b="$coff" 'BEGIN {printf "%.1f", (a > 0) ? 100*(a-b)/a : 0}')
	echo "| $1 | $toff | $ton | $tloss % | $coff | $con | $cshare % |"
}
SUM_OTLP=$(summary_row otlp)
SUM_ZIP=$(summary_row zipkin)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)

SECTION="$TMP/section.md"
{
echo "## Span aggregation"
echo
echo "Written by \`tests/bench/run_agg_bench.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$GIT_REV\`."
echo "Machine: $(nproc) × $CPU_MODEL, $MEM, kernel $(uname -r); load average at start $LOAD_START, at end $LOAD_END"
echo "(the machine is shared with other work: wall-clock throughput is noisy, CPU per span less so)."
echo
echo "### Cost per span on one thread (agg_bench)"
echo
echo "\`ml_aggregator_spans\` over decoded Bookinfo bodies (decode untimed), plus the expiry of lone halves;"
echo "thread CPU time. The flush writes every derived series to a temporary TSDB once per pass over the pool."
echo
echo "| bodies | span metrics names | ns per span | flush ms | children of the main families |"
echo "|---|---|---|---|---|"
echo "| OTLP protobuf | tempo | $(field "$AB_OTLP" ns_per_span) | $(field "$AB_OTLP" flush_ms) | $(field "$AB_OTLP" children) |"
echo "| Zipkin JSON | tempo | $(field "$AB_ZIP" ns_per_span) | $(field "$AB_ZIP" flush_ms) | $(field "$AB_ZIP" children) |"
echo "| OTLP protobuf | otel | $(field "$AB_OTEL" ns_per_span) | $(field "$AB_OTEL" flush_ms) | $(field "$AB_OTEL" children) |"
echo
echo "### Durable ingest with aggregation on and off"
echo
echo "$CONNS connections, $SPANS_PER_REQUEST spans per request, $DURATION s per run, $RUNS runs per format and mode (medians)."
echo "\"CPU µs per span\": meshlens's CPU time over the run divided by the spans it acknowledged."
echo "Target: aggregation costs less than 15 % of ingest throughput."
echo
echo "| format | spans/s off | spans/s on | throughput lost | CPU µs/span off | CPU µs/span on | aggregation's share of CPU |"
echo "|---|---|---|---|---|---|---|"
echo "$SUM_OTLP"
echo "$SUM_ZIP"
echo
echo "| format | run | aggregation | acked | spans/s | ack p50 ms | ack p99 ms | CPU µs/span | load (1 min) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s' "$ROWS"
echo
echo "### Commands"
echo
echo '```'
awk '!seen[$0]++' "$TMP/commands" | sed "s|$TMP|\$TMP|g; s|$ROOT/||g"
echo '```'
echo
} >"$SECTION"

if [ "$WRITE_DOC" = 0 ]; then cat "$SECTION"; exit 0; fi
# Replace the "## Span aggregation" section, keeping its "### Analysis" part (written by hand).
awk -v section="$SECTION" '
	function emit_new() { while ((getline l < section) > 0) print l; close(section) }
	/^## / {
		if (in_sec) { if (analysis != "") printf "%s", analysis; in_sec = 0 }
		if ($0 == "## Span aggregation") { in_sec = 1; done = 1; emit_new(); next }
	}
	in_sec && /^### Analysis/ { keep = 1 }
	in_sec && /^### / && !/^### Analysis/ { keep = 0 }
	in_sec { if (keep) analysis = analysis $0 "\n"; next }
	{ print }
	END {
		if (in_sec && analysis != "") printf "%s", analysis
		if (!done) { print ""; emit_new() }
	}' "$DOC" >"$TMP/doc.md"
cp "$TMP/doc.md" "$DOC"
log "wrote $DOC"
