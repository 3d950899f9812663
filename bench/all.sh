#!/usr/bin/env bash
# bench/all.sh [SCALE] — every stage's benchmark against its reference
# tool, then the end-to-end one, one after another, and one table of
# them all: stage, volume, seconds, rate, peak RSS, the ratio to the
# reference (its time over ours: above 1 is faster) and the goal.
#
# SCALE (default 1000000) sets each volume: load, clean, report and e2e
# take SCALE records or sessions, push SCALE/10 files, listen SCALE/50
# requests (at the default: the workloads of docs/performance.md; never
# below 1000 files or 2000 requests). RUNS (default 3) rounds of each stage
# script, medians shown; e2e runs once. Each script's full output goes to
# $OUT/<stage>.log (OUT defaults to bench/out/<date>/); the table also to
# $OUT/table.txt and, tab-separated, $OUT/rows.tsv.
#
#   bench/all.sh             # the full scale: ~15-20 min, ~10 GB of scratch at the peak (e2e)
#   bench/all.sh 10000       # a smoke test: under a minute
#   ONLY="load e2e" bench/all.sh 100000   # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1000000}
case $scale in '' | *[!0-9]*) echo "usage: bench/all.sh [SCALE]" >&2; exit 2 ;; esac
export RUNS=${RUNS:-3}
ONLY=${ONLY:-listen push load clean report e2e}
OUT=${OUT:-bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export BENCH_ROWS="$OUT/rows.tsv"
: >"$BENCH_ROWS"
unset WORK KEEP # each script makes and removes its own scratch folder

requests=$(( scale / 50 < 2000 ? 2000 : scale / 50 / 2 * 2 ))
files=$(( scale / 10 < 1000 ? 1000 : scale / 10 ))
echo "# bench/all.sh $scale: $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load average $(cut -d' ' -f1-3 /proc/loadavg); logs in $OUT" >&2

failed=()
# run NAME CMD...: one script, its output to $OUT/NAME.log; a failure is
# reported in the table and does not stop the others.
run() {
	local name=$1 t0
	shift
	case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
	echo "# $(date -u +%H:%M:%S) $name: $*" >&2
	t0=$SECONDS
	if ! "$@" >"$OUT/$name.log" 2>&1; then
		failed+=("$name")
		printf '%s\tFAILED (see %s)\t\t\t\t\t\t\n' "$name" "$OUT/$name.log" >>"$BENCH_ROWS"
		tail -5 "$OUT/$name.log" >&2
	fi
	echo "#   $((SECONDS - t0)) s" >&2
}
run listen env REQUESTS="$requests" ROUNDS="$RUNS" bench/listen.sh
run push bench/push.sh "$files" "$RUNS"
run load env SIZES="$scale" bench/load.sh
run clean env SIZES="$scale" bench/clean.sh
run report env SIZES="$scale" bench/report.sh
run e2e bench/e2e.sh "$scale"

# One aligned table (markdown, so it pastes into docs/performance.md).
{
	printf 'stage\tvolume\tseconds\trate\tpeak RSS (MB)\tratio\treference\tgoal\n'
	cat "$BENCH_ROWS"
} | awk -F'\t' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } ; if (NF > nf) nf = NF }
	END {
		for (r = 1; r <= NR; r++) {
			line = "|"
			for (i = 1; i <= nf; i++) line = line sprintf((i >= 3 && i <= 6) ? " %*s |" : " %-*s |", w[i], c[r, i])
			print line
			if (r > 1) continue
			line = "|"
			for (i = 1; i <= nf; i++) {
				d = ""
				for (k = 1; k < w[i]; k++) d = d "-"
				line = line " " d ((i >= 3 && i <= 6) ? ":" : "-") " |"
			}
			print line
		}
	}' | tee "$OUT/table.txt"
echo "# scale $scale, RUNS=$RUNS (medians), $(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg); ratio = reference seconds / ours" | tee -a "$OUT/table.txt"
[ ${#failed[@]} -eq 0 ] || { echo "bench/all.sh: failed: ${failed[*]}" >&2; exit 1; }
