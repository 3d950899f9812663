#!/usr/bin/env bash
# Benchmark of roamreport against a plain SQL pass in the sqlite3 shell.
#
# For each size (default 100000 and 1000000 sessions of July 2026 across
# 50 ISPs in 7 time zones, a 200-row tariff file with every level of
# precedence and weekend/night bands) bench/genreport writes the history
# as roamclean does. Then, RUNS times (default 3), each on a fresh copy of
# that database, it
#   - runs roamreport --period 2026-07 (a first report: every session
#     rated, its charge stored, the reports, DT files and MANIFESTs of 50
#     ISPs and the operator written and fsynced, one transaction,
#     synchronous=FULL),
#   - runs the sqlite3 shell over the table roamreport left (charges, the
#     sessions already rated) computing the per-pair sums with a GROUP BY
#     and writing them as CSV: the issue's reference.
# It prints the median seconds, sessions/s and peak RSS (/usr/bin/time -v)
# of both and the median of the per-run ratios (roamreport's speed over
# the reference's: above 1 is faster). Nothing here is a pass/fail test.
#
#   bench/report.sh                      # 100k and 1M sessions, 3 runs each
#   SIZES="100000" RUNS=1 bench/report.sh
#   WORK=/var/tmp/roambench bench/report.sh   # where data goes (~1.5 GB for 1M)
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
bench_setup report.sh
go build -o "$WORK/bin/" ./cmd/roamreport ./bench/genreport


cat >"$WORK/ref.sql" <<'SQL'
PRAGMA cache_size = -16384;
.headers on
.mode csv
.output pairs.csv
SELECT local_isp, home_isp, count(*) AS sessions, sum(duration) AS seconds, sum(billed_seconds) AS billed_seconds,
	printf('%.2f', sum(provider) / 100.0) AS provider, printf('%.2f', sum(consumer) / 100.0) AS consumer, printf('%.2f', sum(fee) / 100.0) AS fees
FROM charges WHERE tariff_line IS NOT NULL GROUP BY local_isp, home_isp ORDER BY local_isp, home_isp;
.output stdout
SQL

echo "# roamreport vs a GROUP BY in sqlite3; $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sqlite3 $(sqlite3 --version | cut -d' ' -f1); runs per size: $RUNS (median shown)"
printf "%-9s %-11s %10s %12s %7s %14s\n" sessions tool seconds "sessions/s" ratio "peak RSS (MB)"
for n in $SIZES; do
	c="$WORK/central-$n"
	"$WORK/bin/genreport" -sessions "$n" -out "$c"
	sqlite3 "$c/db/roam.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
	cp "$c/db/roam.db" "$WORK/base-$n.db"
	rr_sec=(); sq_sec=(); rr_rss=(); sq_rss=(); ratio=()
	for r in $(seq "$RUNS"); do
		rm -rf "$c/reports" "$c/db/roam.db-wal" "$c/db/roam.db-shm"; cp "$WORK/base-$n.db" "$c/db/roam.db"
		sync
		/usr/bin/time -v "$WORK/bin/roamreport" --config "$c/roam.toml" --period 2026-07 2>"$WORK/rr-$n-$r.log" || { cat "$WORK/rr-$n-$r.log" >&2; exit 1; }
		a=$(tv "Elapsed (wall clock)" "$WORK/rr-$n-$r.log" | secs)
		(cd "$c" && /usr/bin/time -v sqlite3 db/roam.db <"$WORK/ref.sql" 2>"$WORK/sq-$n-$r.log")
		b=$(tv "Elapsed (wall clock)" "$WORK/sq-$n-$r.log" | secs)
		rr_sec+=("$a"); sq_sec+=("$b")
		rr_rss+=("$(tv "Maximum resident" "$WORK/rr-$n-$r.log")"); sq_rss+=("$(tv "Maximum resident" "$WORK/sq-$n-$r.log")")
		ratio+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b/a}')")
	done
	m() { printf '%s\n' "$@" | median; }
	rs=$(m "${rr_sec[@]}"); ss=$(m "${sq_sec[@]}")
	printf "%-9s %-11s %10.2f %12.0f %7s %14.0f\n" "$n" roamreport "$rs" "$(awk -v r="$n" -v s="$rs" 'BEGIN {print r/s}')" "$(m "${ratio[@]}")" "$(awk -v k="$(m "${rr_rss[@]}")" 'BEGIN {print k/1024}')"
	printf "%-9s %-11s %10.2f %12.0f %7s %14.0f\n" "$n" sqlite3 "$ss" "$(awk -v r="$n" -v s="$ss" 'BEGIN {print r/s}')" "" "$(awk -v k="$(m "${sq_rss[@]}")" 'BEGIN {print k/1024}')"
	bench_row roamreport "$n" sess "$rs" "$(awk -v k="$(m "${rr_rss[@]}")" 'BEGIN {printf "%.0f", k/1024}')" "$(m "${ratio[@]}")" "sqlite3 GROUP BY" "1M < 10 s, < 200 MB"
	# The reference's pair sums are the operator's: check one figure.
	ref=$(awk -F, 'NR > 1 {s += $3} END {print s}' "$c/pairs.csv")
	got=$(awk '$1 == "sessions" {print $2}' "$c/reports/2026-07/operator/MANIFEST")
	echo "#   sessions rated: roamreport $got, sqlite3 $ref$( [ "$ref" = "$got" ] || echo '  (DIFFER)')"
	grep -h "summary:" "$WORK/rr-$n-1.log" | sed 's/^/#   roamreport /' | cut -c1-220
	rm -rf "$c" "$WORK/base-$n.db"
done
