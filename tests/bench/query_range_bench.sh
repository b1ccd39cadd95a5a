#!/usr/bin/env bash
# query_range_bench.sh - query_range latency of meshlens against a real
# Prometheus on the same data in one run (tests/bench/query_range_bench.mjs),
# written into docs/BENCHMARKS.md (section "PromQL query_range").
#
# Builds meshlens in Release (BUILD, default build-bench-query), then runs the
# node script: SERIES Istio-shaped series x HOURS hours at 15 s remote-written
# identically to both servers, dashboard panels timed ROUNDS times each. A
# bench, not a test: ctest does not run it. About 6 minutes with the defaults
# on 2 cores (4 with HOURS=6).
#
# Usage: tests/bench/query_range_bench.sh [--no-doc]
#   --no-doc  print the section instead of writing docs/BENCHMARKS.md
# Environment: SERIES (10000) HOURS (24: the size of the query targets) ROUNDS (7) BUILD PROMETHEUS_BIN
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench-query}
DOC=$ROOT/docs/BENCHMARKS.md
WRITE_DOC=1
for a in "$@"; do
	case "$a" in
	--no-doc) WRITE_DOC=0 ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "unknown argument $a (see --help)" >&2; exit 2 ;;
	esac
done
export SERIES=${SERIES:-10000} HOURS=${HOURS:-24} ROUNDS=${ROUNDS:-7}

echo "== building meshlens (Release) in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DMESHLENS_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target meshlens >/dev/null

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
CMD="SERIES=$SERIES HOURS=$HOURS ROUNDS=$ROUNDS MESHLENS_BIN=$BUILD/meshlens node tests/bench/query_range_bench.mjs"
echo "== $CMD" >&2
(cd "$ROOT" && MESHLENS_BIN=$BUILD/meshlens node tests/bench/query_range_bench.mjs) | tee "$OUT" >&2

commit=$(git -C "$ROOT" rev-parse --short HEAD)
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no | wc -l)
section=$(
	echo "## PromQL query_range"
	echo
	echo "Written by \`tests/bench/query_range_bench.sh\` on $(date -u '+%Y-%m-%d %H:%M') UTC, commit \`$commit\`" \
		"($dirty tracked files modified in the tree), $(prometheus --version 2>&1 | head -1)."
	echo
	echo "### Machine"
	echo
	echo '```'
	echo "nproc: $(nproc)"
	lscpu | head -15
	echo '```'
	echo
	echo "### Data and method"
	echo
	grep '^# ' "$OUT" | sed 's/^# /- /'
	echo "- The same remote-write bodies went to meshlens (/api/v1/write) and to Prometheus"
	echo "  (--web.enable-remote-write-receiver); Prometheus had compacted its head before the"
	echo "  measurements. Each panel ran once on each server to warm up, then $ROUNDS times on each,"
	echo "  alternating servers, one query at a time; latency is from request to last byte on"
	echo "  loopback. Both servers must answer the same number of series."
	echo
	echo "### Results"
	echo
	sed -n '/^| panel/,/^$/p' "$OUT"
	grep -E '^(Geometric|RSS|Machine|Load)' "$OUT" | sed 's/$/\n/'
	echo
	echo "### Command"
	echo
	echo '```'
	echo "tests/bench/query_range_bench.sh    # = $CMD"
	echo '```'
)
if [ "$WRITE_DOC" = 0 ]; then
	echo "$section"
	exit 0
fi
# Replace the section (up to the next "## " heading) or append it.
python3 - "$DOC" "$section" <<'EOF'
import sys
path, section = sys.argv[1], sys.argv[2].rstrip('\n') + '\n'
text = open(path).read()
lines = text.split('\n')
try:
    i = lines.index('## PromQL query_range')
except ValueError:
    open(path, 'w').write(text.rstrip('\n') + '\n\n\n' + section)
    sys.exit(0)
j = i + 1
while j < len(lines) and not lines[j].startswith('## '):
    j += 1
rest = '\n'.join(lines[j:])
open(path, 'w').write('\n'.join(lines[:i]).rstrip('\n') + '\n\n\n' + section + ('\n\n' + rest if rest.strip() else ''))
EOF
echo "== wrote the section into $DOC" >&2
