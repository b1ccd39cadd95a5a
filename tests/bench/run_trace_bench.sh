#!/usr/bin/env bash
# run_trace_bench.sh - the trace ingest benchmark, start to finish, written
# into docs/BENCHMARKS.md (section "Trace ingest").
#
# Builds meshlens and the bench tools in Release (build-bench), then:
#   1. the decode-only ceiling (decode_ceiling, one thread, OTLP and Zipkin);
#   2. durable ingest over OTLP protobuf: RUNS runs of DURATION seconds, each
#      against a fresh meshlens on 127.0.0.1 with a fresh --storage.path, as
#      fast as possible over CONNS keep-alive connections; medians reported;
#   3. the same over Zipkin v2 JSON;
#   4. a store of STORE_SPANS spans (OTLP, as fast as possible), then, once the
#      head is compacted, its bytes per span on disk against the raw OTLP bytes
#      per span, and trace-by-id / search latency (query_bench);
#   5. a CPU profile of meshlens during one OTLP run (perf, software clock).
# Machine facts (nproc, CPU, memory, disk, load) and the exact commands go
# into the document with the figures. Loopback only.
#
# Usage: tests/bench/run_trace_bench.sh [--quick] [--no-doc]
#   --quick   short validation: 1 run of 8 s per format, 300 k spans stored
#   --no-doc  print the section instead of writing docs/BENCHMARKS.md
# Environment overrides: RUNS DURATION CONNS STORE_SPANS PORT BUILD BENCH_TMP
#   SPANS_PER_REQUEST ID_REQUESTS SEARCH_REQUESTS SWEEP_CONNS ("4 16 64"; "" = no sweep)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
PORT=${PORT:-14318}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
CONNS=${CONNS:-32}
SPANS_PER_REQUEST=${SPANS_PER_REQUEST:-100}
STORE_SPANS=${STORE_SPANS:-10000000}
ID_REQUESTS=${ID_REQUESTS:-2000}
SEARCH_REQUESTS=${SEARCH_REQUESTS:-100}
DOC=$ROOT/docs/BENCHMARKS.md
WRITE_DOC=1
QUICK=0
for a in "$@"; do
	case "$a" in
	--quick) QUICK=1; RUNS=1; DURATION=8; STORE_SPANS=300000; ID_REQUESTS=500; SEARCH_REQUESTS=20 ;;
	--no-doc) WRITE_DOC=0 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) echo "unknown argument $a (see --help)" >&2; exit 2 ;;
	esac
done

TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/meshlens-bench.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT

LOADGEN=$BUILD/tests/bench/loadgen
DECODE=$BUILD/tests/bench/decode_ceiling
QUERY=$BUILD/tests/bench/query_bench
MESHLENS=$BUILD/meshlens
log() { echo "== $*" >&2; }
# Runs a command and notes it for the document (a file: commands also run in subshells).
run() { echo "$*" >>"$TMP/commands"; "$@"; }

# ---- build ------------------------------------------------------------------
log "building Release in $BUILD"
# gcc's -O2 -Wmaybe-uninitialized has false positives that -Werror turns
# into build failures; they must not stop a benchmark build.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF \
	-DCMAKE_C_FLAGS="-Wno-error=maybe-uninitialized" >/dev/null
cmake --build "$BUILD" -j2 --target meshlens bench_loadgen bench_decode_ceiling bench_query_bench >/dev/null
echo "cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF -DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized && cmake --build build-bench -j2 --target meshlens bench_loadgen bench_decode_ceiling bench_query_bench" >"$TMP/commands"
echo "$MESHLENS --web.listen-address=127.0.0.1:$PORT --storage.path=\$TMP/<fresh dir> --log.level=warn" >>"$TMP/commands"

# ---- helpers ----------------------------------------------------------------
field() { # field "RESULT a=1 b=2" b -> 2
	tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | sed -n 1p
}
median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# "tid name ticks" for every thread of a process (the name is the thread's comm)
thread_ticks() {
	for t in /proc/"$1"/task/*; do
		[ -r "$t/stat" ] || continue
		sed 's/^\([0-9]*\) (\(.*\)) /\1 \2 /' "$t/stat" | awk '{print $1, $2, $14+$15}' 2>/dev/null || true
	done
}
HZ=$(getconf CLK_TCK)
# Busy ticks of the whole machine (all CPUs): user nice system irq softirq steal.
busy_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
MAX_OTHER=0

start_server() { # start_server DIR
	"$MESHLENS" --web.listen-address=127.0.0.1:$PORT --storage.path="$1" --log.level=warn \
		>>"$TMP/meshlens.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 1 300); do
		if curl -sf -o /dev/null "http://127.0.0.1:$PORT/-/ready"; then return 0; fi
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "meshlens did not become ready; log:" >&2
	tail -20 "$TMP/meshlens.log" >&2
	exit 1
}
stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID" || true
	SERVER_PID=
}
# Waits until the trace head is compacted into blocks (trace_head empty), at most $1 seconds.
wait_compacted() {
	local waited=0
	while [ "$waited" -lt "$1" ]; do
		local n
		n=$(mdb_stat -s trace_head "$2" 2>/dev/null | sed -n 's/^ *Entries: //p')
		if [ "${n:-1}" = 0 ]; then echo "$waited"; return 0; fi
		sleep 5
		waited=$((waited + 5))
	done
	echo "timeout"
}
# Live bytes of an LMDB environment: pages in use (all databases, free pages excluded).
lmdb_live_bytes() {
	mdb_stat -a -e -f "$1" | awk '
		/Page size:/ {ps=$3}
		/Number of pages used:/ {used=$5}
		/Free pages:/ {free=$3}
		END {print (used-free)*ps}'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | wc -l)

# ---- 1. decode-only ceiling ---------------------------------------------------
log "decode-only ceiling"
DEC_OTLP=$(run "$DECODE" --format otlp --seconds 5 --spans-per-request "$SPANS_PER_REQUEST" | grep '^RESULT')
DEC_ZIP=$(run "$DECODE" --format zipkin --seconds 5 --spans-per-request "$SPANS_PER_REQUEST" | grep '^RESULT')
CEIL_OTLP=$(field "$DEC_OTLP" spans_per_s)
CEIL_ZIP=$(field "$DEC_ZIP" spans_per_s)
RAW_BPS=$(field "$DEC_OTLP" bytes_per_span)

# ---- 2, 3. durable ingest ---------------------------------------------------------
declare -A TPUT P50 P99 ACKED SENT NON2XX SRV_CPU GEN_CPU
RUN_ROWS=""
PERF_TOP=""
for fmt in otlp zipkin; do
	for r in $(seq 1 "$RUNS"); do
		log "ingest $fmt run $r/$RUNS ($DURATION s, $CONNS connections)"
		dir="$TMP/ingest-$fmt-$r"
		start_server "$dir"
		c0=$(cpu_ticks "$SERVER_PID")
		[ "$fmt" = otlp ] && [ "$r" = 1 ] && thread_ticks "$SERVER_PID" >"$TMP/threads0"
		if [ "$fmt" = otlp ] && [ "$r" = 1 ] && command -v perf >/dev/null; then
			(sleep 2; perf record -e cpu-clock -g -p "$SERVER_PID" -o "$TMP/perf.data" -- sleep 5 \
				>/dev/null 2>&1 || true) &
			PERF_JOB=$!
		else
			PERF_JOB=
		fi
		b0=$(busy_ticks)
		out=$( { TIMEFORMAT='LOADGEN_CPU %U %S'; time run "$LOADGEN" --target 127.0.0.1:$PORT --format $fmt \
			--connections "$CONNS" --spans-per-request "$SPANS_PER_REQUEST" --duration "$DURATION" \
			--seed "$r"; } 2>&1 ) || true
		c1=$(cpu_ticks "$SERVER_PID")
		b1=$(busy_ticks)
		if [ "$fmt" = otlp ] && [ "$r" = 1 ]; then
			thread_ticks "$SERVER_PID" >"$TMP/threads1"
			# CPU share of each busy thread over the run, busiest first
			THREADS=$(awk -v hz="$HZ" -v el="$DURATION" '
				NR == FNR {t0[$1] = $3; next}
				{d = $3 - t0[$1]; if (d > 0) printf "| %s (tid %s) | %.2f |\n", $2, $1, d/hz/el}' \
				"$TMP/threads0" "$TMP/threads1" | sort -t'|' -k3 -gr | head -8 || true)
		fi
		[ -n "$PERF_JOB" ] && wait "$PERF_JOB"
		stop_server
		res=$(grep '^RESULT' <<<"$out" || true)
		if [ -z "$res" ]; then echo "$out" >&2; exit 1; fi
		el=$(field "$res" elapsed_s)
		gen=$(grep '^LOADGEN_CPU' <<<"$out" | awk '{print $2+$3}')
		key="$fmt.$r"
		TPUT[$key]=$(field "$res" spans_per_s)
		P50[$key]=$(field "$res" lat_p50_ms)
		P99[$key]=$(field "$res" lat_p99_ms)
		ACKED[$key]=$(field "$res" spans_acked)
		SENT[$key]=$(field "$res" spans_sent)
		NON2XX[$key]=$(( $(field "$res" non2xx) + $(field "$res" conn_errors) ))
		SRV_CPU[$key]=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v el="$el" 'BEGIN {printf "%.2f", (b-a)/hz/el}')
		GEN_CPU[$key]=$(awk -v g="$gen" -v el="$el" 'BEGIN {printf "%.2f", g/el}')
		# CPU used by everything else on the machine during the run (other engineers' work)
		other=$(awk -v a="$b0" -v b="$b1" -v hz="$HZ" -v el="$el" -v s="${SRV_CPU[$key]}" -v g="${GEN_CPU[$key]}" \
			'BEGIN {o = (b-a)/hz/el - s - g; if (o < 0) o = 0; printf "%.2f", o}')
		MAX_OTHER=$(awk -v a="$MAX_OTHER" -v b="$other" 'BEGIN {print (b > a) ? b : a}')
		RUN_ROWS+="| $fmt | $r | ${SENT[$key]} | ${ACKED[$key]} | ${NON2XX[$key]} | ${TPUT[$key]} | ${P50[$key]} | ${P99[$key]} | ${SRV_CPU[$key]} | ${GEN_CPU[$key]} | $other |"$'\n'
		rm -rf "$dir"
	done
done
med() { # med fmt ARRAYNAME
	local -n arr=$2
	for r in $(seq 1 "$RUNS"); do echo "${arr[$1.$r]}"; done | median
}
ING_OTLP=$(med otlp TPUT); ING_ZIP=$(med zipkin TPUT)
P50_OTLP=$(med otlp P50); P99_OTLP=$(med otlp P99)
P50_ZIP=$(med zipkin P50); P99_ZIP=$(med zipkin P99)
CPU_OTLP=$(med otlp SRV_CPU); CPU_ZIP=$(med zipkin SRV_CPU)
GCPU_OTLP=$(med otlp GEN_CPU)
if [ -f "$TMP/perf.data" ]; then
	PERF_TOP=$(perf report -i "$TMP/perf.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -20 | sed 's/^ *//; s/[ -]*$//; s/   */  /g' || true)
fi

# ---- 3b. the same OTLP load with the store on tmpfs: what the disk's flushes cost -----------
SHM_ROW=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	log "ingest otlp with the store on tmpfs ($DURATION s)"
	SHM_DIR=$(mktemp -d /dev/shm/meshlens-bench.XXXXXX)
	start_server "$SHM_DIR/data"
	c0=$(cpu_ticks "$SERVER_PID")
	out=$(run "$LOADGEN" --target 127.0.0.1:$PORT --format otlp --connections "$CONNS" \
		--spans-per-request "$SPANS_PER_REQUEST" --duration "$DURATION" --seed 1 2>&1) || true
	c1=$(cpu_ticks "$SERVER_PID")
	stop_server
	rm -rf "$SHM_DIR"
	res=$(grep '^RESULT' <<<"$out" || true)
	if [ -n "$res" ]; then
		SHM_TPUT=$(field "$res" spans_per_s)
		SHM_ROW="| otlp, store on tmpfs | $(field "$res" spans_acked) | $SHM_TPUT | $(field "$res" lat_p50_ms) | $(field "$res" lat_p99_ms) | $(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v el="$(field "$res" elapsed_s)" 'BEGIN {printf "%.2f", (b-a)/hz/el}') |"
	fi
fi
# ---- 3c. how throughput depends on the number of connections (one run each) ------------------
SWEEP_ROWS=""
for n in ${SWEEP_CONNS-4 16 64}; do
	log "ingest otlp with $n connections ($DURATION s)"
	dir="$TMP/sweep-$n"
	start_server "$dir"
	out=$(run "$LOADGEN" --target 127.0.0.1:$PORT --format otlp --connections "$n" \
		--spans-per-request "$SPANS_PER_REQUEST" --duration "$DURATION" --seed 1 2>&1) || true
	stop_server
	rm -rf "$dir"
	res=$(grep '^RESULT' <<<"$out" || true)
	[ -n "$res" ] && SWEEP_ROWS+="| $n | $(field "$res" spans_per_s) | $(field "$res" lat_p50_ms) | $(field "$res" lat_p99_ms) |"$'\n'
done
SYNC_4K=$(dd if=/dev/zero of="$TMP/dsync.test" bs=4k count=200 oflag=dsync 2>&1 | sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p' | awk '{printf "%.2f", $1/200*1000}' || true)
rm -f "$TMP/dsync.test"

# ---- 4. a large store: bytes per span, query latency ------------------------------------
log "loading $STORE_SPANS spans for the query benchmark"
SDIR="$TMP/store"
start_server "$SDIR"
LOAD_OUT=$(run "$LOADGEN" --target 127.0.0.1:$PORT --format otlp --connections "$CONNS" \
	--spans-per-request "$SPANS_PER_REQUEST" --spans "$STORE_SPANS" --seed 42 \
	--trace-ids-out "$TMP/trace_ids.txt" --trace-ids-count 5000 2>&1) || true
LOAD_RES=$(grep '^RESULT' <<<"$LOAD_OUT" || true)
[ -n "$LOAD_RES" ] || { echo "$LOAD_OUT" >&2; exit 1; }
STORED=$(field "$LOAD_RES" spans_acked)
LOAD_TPUT=$(field "$LOAD_RES" spans_per_s)
LOAD_RAW=$(field "$LOAD_RES" bytes_sent)
log "waiting for the head to be compacted"
COMPACT_WAIT=$(wait_compacted 600 "$SDIR")
FILE_BYTES=$(stat -c %s "$SDIR/data.mdb")
LIVE_BYTES=$(lmdb_live_bytes "$SDIR")
mkdir -p "$TMP/copy"
mdb_copy -c "$SDIR" "$TMP/copy" >/dev/null 2>&1 || true
PS=$(mdb_stat -e "$SDIR" | sed -n 's/^ *Page size: //p')
COPY_BYTES=$(stat -c %s "$TMP/copy/data.mdb" 2>/dev/null || echo 0)
DB_BREAKDOWN=$(mdb_stat -a "$SDIR" | awk -v ps="$PS" -v n="$STORED" '
	/^Status of / {name=$3}
	/Branch pages:/ {b=$3} /Leaf pages:/ {l=$3} /Overflow pages:/ {o=$3}
	/Entries:/ {p=b+l+o; if (p>0) printf "| %s | %d | %d | %.1f |\n", name, $2, p*ps, p*ps/n}')
BPS_LIVE=$(awk -v a="$LIVE_BYTES" -v n="$STORED" 'BEGIN {printf "%.1f", a/n}')
BPS_COPY=$(awk -v a="$COPY_BYTES" -v n="$STORED" 'BEGIN {printf "%.1f", a/n}')
BPS_FILE=$(awk -v a="$FILE_BYTES" -v n="$STORED" 'BEGIN {printf "%.1f", a/n}')
RAW_SENT_BPS=$(awk -v a="$LOAD_RAW" -v n="$(field "$LOAD_RES" spans_sent)" 'BEGIN {printf "%.1f", a/n}')

log "query latency"
QUERY_OUT=$(run "$QUERY" --target 127.0.0.1:$PORT --trace-ids "$TMP/trace_ids.txt" \
	--requests "$ID_REQUESTS" --kinds trace_by_id,zipkin_trace; \
	run "$QUERY" --target 127.0.0.1:$PORT --requests "$SEARCH_REQUESTS" \
	--kinds search_service,search_tag,search_duration) || true
RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
stop_server
ID_P50=$(field "$(grep 'query=trace_by_id' <<<"$QUERY_OUT")" p50_ms)
ID_P99=$(field "$(grep 'query=trace_by_id' <<<"$QUERY_OUT")" p99_ms)
QUERY_ROWS=$(grep '^RESULT query=' <<<"$QUERY_OUT" | while read -r line; do
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(field "$line" query)" "$(field "$line" n)" \
		"$(field "$line" ok)" "$(( $(field "$line" empty) + $(field "$line" errors) ))" \
		"$(field "$line" p50_ms)" "$(field "$line" p90_ms)" "$(field "$line" p99_ms)"
done)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the document ---------------------------------------------------------------
verdict() { # verdict VALUE OP TARGET
	awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? v >= t : (op == "<=") ? v <= t : v < t; print ok ? "met" : "**missed**" }'
}
RATIO=$(awk -v a="$ING_OTLP" -v b="$CEIL_OTLP" 'BEGIN {printf "%.0f", (b > 0 ? 100*a/b : 0)}')
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
DISK=$(df -h --output=source,fstype,size "$TMP" | tail -1 | awk '{print $1" ("$2", "$3")"}')
ROTA=$(lsblk -dno ROTA "$(df --output=source "$TMP" | tail -1)" 2>/dev/null | head -1 || true)
SHARED=$(awk -v l="${LOAD_START%% *}" -v o="$MAX_OTHER" 'BEGIN {print (l >= 1.0 || o >= 0.2) ? "yes" : "no"}')

SECTION="$TMP/section.md"
{
echo "## Trace ingest"
echo
echo "Written by \`tests/bench/run_trace_bench.sh$([ $QUICK = 1 ] && echo ' --quick')\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$GIT_REV\`$([ "$GIT_DIRTY" != 0 ] && echo " (plus uncommitted changes in $GIT_DIRTY tracked files)")."
[ $QUICK = 1 ] && echo "**Quick validation run** (1 short run per format, $STORE_SPANS spans stored): indicative only."
echo
echo "### Machine"
echo
echo "| | |"
echo "|---|---|"
echo "| CPUs | $(nproc) × $CPU_MODEL |"
echo "| memory | $MEM |"
echo "| disk | $DISK$([ "$ROTA" = 0 ] && echo ', non-rotational')$([ "$ROTA" = 1 ] && echo ', rotational') |"
echo "| kernel | $(uname -r) |"
echo "| load average (1, 5, 15 min) | at start $LOAD_START, at end $LOAD_END (the benchmark's own threads count) |"
echo "| shared with other work | $SHARED: other processes used up to $MAX_OTHER CPUs during an ingest run (column \"other CPUs\") |"
echo
echo "meshlens and the load generator run on the same $(nproc) CPUs over loopback, so every"
echo "figure below includes the generator's own CPU use (column \"loadgen CPUs\")."
echo
echo "### Against the targets"
echo
echo "| what | target | measured | |"
echo "|---|---|---|---|"
echo "| durable ingest, OTLP protobuf, median of $RUNS | ≥ 200,000 spans/s | $ING_OTLP spans/s | $(verdict "$ING_OTLP" '>=' 200000) |"
echo "| ingest / decode-only ceiling | ≥ 50 % | $RATIO % ($ING_OTLP / $CEIL_OTLP) | $(verdict "$RATIO" '>=' 50) |"
echo "| bytes per span on disk (Bookinfo mix) | ≤ 40 | $BPS_COPY (raw OTLP: $RAW_BPS) | $(verdict "$BPS_COPY" '<=' 40) |"
echo "| trace-by-id p99, $STORED spans stored | < 10 ms | $ID_P99 ms | $(verdict "$ID_P99" '<' 10) |"
echo
echo "### Decode-only ceiling (one thread, no HTTP, no store)"
echo
echo "| format | spans/s | MB/s | body bytes per span |"
echo "|---|---|---|---|"
echo "| OTLP protobuf | $CEIL_OTLP | $(field "$DEC_OTLP" mb_per_s) | $(field "$DEC_OTLP" bytes_per_span) |"
echo "| Zipkin JSON | $CEIL_ZIP | $(field "$DEC_ZIP" mb_per_s) | $(field "$DEC_ZIP" bytes_per_span) |"
echo
echo "### Durable ingest (2xx = committed), as fast as possible"
echo
echo "$CONNS keep-alive connections, $SPANS_PER_REQUEST spans per request, $DURATION s per run, a fresh store per run."
echo "Latency: from the first byte of the request to the last byte of the acknowledgement."
echo "\"meshlens CPUs\": CPU seconds of the meshlens process per second of the run; \"other CPUs\": the same"
echo "for every other process on the machine (from /proc/stat), i.e. how shared the machine was."
echo
echo "| format | run | spans sent | acked | non-2xx + conn. errors | spans/s | ack p50 ms | ack p99 ms | meshlens CPUs | loadgen CPUs | other CPUs |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s' "$RUN_ROWS"
echo
echo "Medians: OTLP protobuf **$ING_OTLP spans/s**, ack latency median $P50_OTLP ms, p99 $P99_OTLP ms, meshlens $CPU_OTLP CPUs;"
echo "Zipkin JSON **$ING_ZIP spans/s**, median $P50_ZIP ms, p99 $P99_ZIP ms, meshlens $CPU_ZIP CPUs."
echo
if [ -n "$SHM_ROW" ]; then
	echo "The same OTLP load with the store on tmpfs (fsync costs nothing there) shows what the disk's"
	echo "flushes cost; a synced 4 KiB write on the benchmark's disk takes ${SYNC_4K} ms (\`dd oflag=dsync\`)."
	echo
	echo "| run | acked | spans/s | ack p50 ms | ack p99 ms | meshlens CPUs |"
	echo "|---|---|---|---|---|---|"
	echo "| otlp, store on disk (median above) | | $ING_OTLP | $P50_OTLP | $P99_OTLP | $CPU_OTLP |"
	echo "$SHM_ROW"
	echo
fi
if [ -n "$SWEEP_ROWS" ]; then
	echo "OTLP on disk, one run per connection count ($DURATION s each):"
	echo
	echo "| connections | spans/s | ack p50 ms | ack p99 ms |"
	echo "|---|---|---|---|"
	printf '%s' "$SWEEP_ROWS"
	echo
fi
echo "### Bytes per span on disk"
echo
echo "$STORED spans (OTLP, loaded at $LOAD_TPUT spans/s); the head was compacted into blocks after ${COMPACT_WAIT} s of waiting."
echo "Raw OTLP protobuf as sent: $RAW_SENT_BPS bytes per span."
echo
echo "| measure | bytes | per span |"
echo "|---|---|---|"
echo "| data.mdb file size (includes free pages left by the compacted head) | $FILE_BYTES | $BPS_FILE |"
echo "| pages in use (mdb_stat: used − free) | $LIVE_BYTES | $BPS_LIVE |"
echo "| compacted copy (\`mdb_copy -c\`): the figure compared with the target | $COPY_BYTES | $BPS_COPY |"
echo
echo "| LMDB database | entries | bytes in pages | per span |"
echo "|---|---|---|---|"
printf '%s\n' "$DB_BREAKDOWN"
echo
echo "### Query latency with $STORED spans stored"
echo
echo "One connection, one query at a time; ids spread over the whole load; searches over the last 3 h with limit=20,"
echo "over the five Bookinfo services in turn. meshlens peak RSS after the queries: $((RSS_KB / 1024)) MiB."
echo
echo "| query | queries | ok | empty or failed | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "$QUERY_ROWS"
echo
if [ -n "${THREADS:-}" ]; then
	echo "### meshlens threads during the first OTLP run"
	echo
	echo "CPU seconds per second of the run, per thread (from /proc/<pid>/task/*/stat); a thread"
	echo "near 1.00 is a serial bottleneck."
	echo
	echo "| thread | CPUs |"
	echo "|---|---|"
	printf '%s\n' "$THREADS"
	echo
fi
if [ -n "$PERF_TOP" ]; then
	echo "### Where meshlens spends its CPU during OTLP ingest"
	echo
	echo "\`perf record -e cpu-clock -g\` on the meshlens process for 5 s of the first OTLP run (hardware"
	echo "counters are not available in this VM); top symbols, self time:"
	echo
	echo '```'
	printf '%s\n' "$PERF_TOP"
	echo '```'
	echo
fi
echo "### Commands"
echo
echo '```'
awk '!seen[$0]++' "$TMP/commands" | sed "s|$TMP|\$TMP|g; s|$ROOT/||g"
echo '```'
echo
} >"$SECTION"

if [ "$WRITE_DOC" = 0 ]; then
	cat "$SECTION"
	exit 0
fi
# Replace the "## Trace ingest" section, keeping its "### Analysis" part (written by hand)
# and every other section of the document.
mkdir -p "$(dirname "$DOC")"
[ -f "$DOC" ] || printf '# Benchmarks\n\nHow fast meshlens is, measured on the machine named in each section, with the\nscripts under tests/bench/. Figures are from real runs; where a target is missed the\nsection says what limits it.\n\n' >"$DOC"
awk -v section="$SECTION" '
	function emit_new() { while ((getline l < section) > 0) print l; close(section) }
	/^## / {
		if (in_sec) { if (analysis != "") printf "%s", analysis; in_sec = 0 }
		if ($0 == "## Trace ingest") { in_sec = 1; done = 1; emit_new(); next }
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
