#!/usr/bin/env bash
# Benchmark of roamclean against a plain SQL pass in the sqlite3 shell.
#
# For each size (default 100000 and 1000000 sessions: Start, one Interim,
# Stop; 5 % of Stops sent twice, in a second batch; 1 % from a realm of no
# partner: about 300k and 3M raw records) it makes the batches
# (bench/genclean) and loads them with roamload into a database. Then, RUNS
# times (default 3), each on a fresh copy of that database, it
#   - runs roamclean (a first run: every record judged, outcomes and
#     sessions written, reconciliation, one transaction, synchronous=FULL),
#   - runs bench/clean_ref.sql in the sqlite3 shell (dedup with GROUP BY,
#     sessions with a window function, an outcome per record, one
#     transaction, synchronous=FULL).
# It prints the median seconds, records/s and peak RSS (/usr/bin/time -v)
# of both and the median of the per-run ratios (roamclean's speed over the
# reference's: above 1 is faster). Nothing here is a pass/fail test.
#
#   bench/clean.sh                      # 100k and 1M sessions, 3 runs each
#   SIZES="100000" RUNS=1 bench/clean.sh
#   WORK=/var/tmp/roambench bench/clean.sh   # where data goes (~4 GB for 1M)
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
bench_setup clean.sh
go build -o "$WORK/bin/" ./cmd/roamload ./cmd/roamclean ./bench/genclean


cat >"$WORK/partners.csv" <<'CSV'
id,name,country,realms,timezone
ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles
ISPB,Connect.com,Australia,connect.com.au,Australia/Sydney
ISPC,Example,Germany,example.net,Europe/Berlin
CSV
cat >"$WORK/tariffs.csv" <<'CSV'
local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum
*,*,2026-01-01,*,*,0.0300,0.0500,60,60
CSV
{
	echo "CREATE TEMP TABLE realms (realm TEXT PRIMARY KEY, isp TEXT);"
	tail -n +2 "$WORK/partners.csv" | while IFS=, read -r id _ _ realms _; do
		for r in $realms; do echo "INSERT INTO realms VALUES ('$r', '$id');"; done
	done
	cat bench/clean_ref.sql
} >"$WORK/ref.sql"

echo "# roamclean vs a plain SQL pass in sqlite3; $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)$( [ -r /proc/pressure/io ] && echo "; io pressure: $(head -1 /proc/pressure/io)")"
echo "# sqlite3 $(sqlite3 --version | cut -d' ' -f1); runs per size: $RUNS (median shown)"
printf "%-9s %-10s %-10s %10s %12s %7s %14s\n" sessions records tool seconds "records/s" ratio "peak RSS (MB)"
for n in $SIZES; do
	c="$WORK/central-$n"
	mkdir -p "$c/inbound"
	cp "$WORK/partners.csv" "$WORK/tariffs.csv" "$c/"
	printf '[settlement]\ninbound = "inbound"\ndb = "db/roam.db"\n' >"$c/roam.toml"
	"$WORK/bin/genclean" -sessions "$n" -out "$c/inbound"
	"$WORK/bin/roamload" --config "$c/roam.toml" 2>"$WORK/load-$n.log"
	records=$(sqlite3 "$c/db/roam.db" "SELECT count(*) FROM raw_data")
	sqlite3 "$c/db/roam.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
	cp "$c/db/roam.db" "$WORK/base-$n.db"
	rc_sec=(); sq_sec=(); rc_rss=(); sq_rss=(); ratio=()
	for r in $(seq "$RUNS"); do
		rm -f "$c/db/roam.db-wal" "$c/db/roam.db-shm"; cp "$WORK/base-$n.db" "$c/db/roam.db"
		set +e
		/usr/bin/time -v "$WORK/bin/roamclean" --config "$c/roam.toml" 2>"$WORK/rc-$n-$r.log"
		code=$?
		set -e
		if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then cat "$WORK/rc-$n-$r.log" >&2; exit 1; fi
		a=$(tv "Elapsed (wall clock)" "$WORK/rc-$n-$r.log" | secs)
		rm -f "$c/db/roam.db-wal" "$c/db/roam.db-shm"; cp "$WORK/base-$n.db" "$c/db/roam.db"
		/usr/bin/time -v sqlite3 "$c/db/roam.db" <"$WORK/ref.sql" >"$WORK/sq-$n-$r.out" 2>"$WORK/sq-$n-$r.log"
		b=$(tv "Elapsed (wall clock)" "$WORK/sq-$n-$r.log" | secs)
		rc_sec+=("$a"); sq_sec+=("$b")
		rc_rss+=("$(tv "Maximum resident" "$WORK/rc-$n-$r.log")"); sq_rss+=("$(tv "Maximum resident" "$WORK/sq-$n-$r.log")")
		ratio+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b/a}')")
	done
	m() { printf '%s\n' "$@" | median; }
	rs=$(m "${rc_sec[@]}"); ss=$(m "${sq_sec[@]}")
	printf "%-9s %-10s %-10s %10.2f %12.0f %7s %14.0f\n" "$n" "$records" roamclean "$rs" "$(awk -v r="$records" -v s="$rs" 'BEGIN {print r/s}')" "$(m "${ratio[@]}")" "$(awk -v k="$(m "${rc_rss[@]}")" 'BEGIN {print k/1024}')"
	printf "%-9s %-10s %-10s %10.2f %12.0f %7s %14.0f\n" "$n" "$records" sqlite3 "$ss" "$(awk -v r="$records" -v s="$ss" 'BEGIN {print r/s}')" "" "$(awk -v k="$(m "${sq_rss[@]}")" 'BEGIN {print k/1024}')"
	# the goal: 3M records (1M sessions) in under 30 s; no ratio goal
	bench_row roamclean "$records" rec "$rs" "$(awk -v k="$(m "${rc_rss[@]}")" 'BEGIN {printf "%.0f", k/1024}')" "$(m "${ratio[@]}")" "sqlite3 clean_ref.sql" "3M rec < 30 s"
	grep -h "summary:" "$WORK/rc-$n-1.log" | sed 's/^/#   roamclean /' | cut -c1-220
	tr '\n' ' ' <"$WORK/sq-$n-1.out" | sed 's/^/#   sqlite3 /'; echo
	rm -rf "$c" "$WORK/base-$n.db"
done
