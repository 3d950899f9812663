#!/usr/bin/env bash
# Benchmark of roamload against the sqlite3 shell's CSV import.
#
# For each size (default 100000 and 1000000 records) it generates one batch
# (bench/genbatch: 4-record session files, made with spool.Append and
# batch.Create) and the same records as CSV rows of the raw table. Then,
# RUNS times (default 3), alternating, it
#   - loads the batch with roamload into a fresh database (verifying every
#     member's SHA-256, the tar's SHA-256, record counts and control totals,
#     WAL, synchronous=FULL, one transaction), and
#   - imports the CSV with the sqlite3 shell (.import, one transaction) into
#     a fresh database holding a table of the same shape (the raw table's
#     own DDL, taken from roamload's database), WAL and synchronous=FULL too.
# It prints the median records/s of both, the median of the per-run ratios
# (each run times both back to back, so a busy machine skews both alike),
# and roamload's median peak RSS (/usr/bin/time -v). Nothing here is a
# pass/fail test.
#
#   bench/load.sh                  # 100k and 1M, 3 runs each
#   SIZES="100000" RUNS=5 bench/load.sh
#   WORK=/var/tmp/roambench bench/load.sh   # where data goes (needs ~3 GB for 1M)
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
bench_setup load.sh
go build -o "$WORK/bin/roamload" ./cmd/roamload
go build -o "$WORK/bin/genbatch" ./bench/genbatch

echo "# roamload vs sqlite3 .import; $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)$( [ -r /proc/pressure/io ] && echo "; io pressure: $(head -1 /proc/pressure/io)")"
echo "# sqlite3 $(sqlite3 --version | cut -d' ' -f1); runs per size: $RUNS (median shown)"
printf "%-9s %-10s %12s %12s %7s %14s\n" records tool "records/s" seconds ratio "peak RSS (MB)"
for n in $SIZES; do
	src="$WORK/src-$n"
	mkdir -p "$src"
	"$WORK/bin/genbatch" -records "$n" -out "$src" -csv "$WORK/raw-$n.csv" 2>"$WORK/genbatch-$n.log"
	rl_rate=(); sh_rate=(); rl_sec=(); sh_sec=(); rl_rss=(); ratio=()
	for r in $(seq "$RUNS"); do
		# roamload: a fresh central folder, the batch hard-linked into inbound/
		c="$WORK/central"
		rm -rf "$c"; mkdir -p "$c/inbound"
		ln "$src"/ISPB-0000000001.* "$c/inbound/"
		printf '[settlement]\ninbound = "inbound"\narchive = "archive"\nquarantine = "quarantine"\ndb = "db/roam.db"\n' >"$c/roam.toml"
		# every central command checks partners.csv and tariffs.csv first
		printf 'id,name,country,realms,timezone\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n' >"$c/partners.csv"
		printf 'local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n' >"$c/tariffs.csv"
		sync
		/usr/bin/time -v "$WORK/bin/roamload" --config "$c/roam.toml" 2>"$WORK/rl.log" || { cat "$WORK/rl.log"; exit 1; }
		got=$(sqlite3 "$c/db/roam.db" "SELECT count(*) FROM raw")
		[ "$got" = "$n" ] || { echo "roamload loaded $got of $n records"; exit 1; }
		s=$(tv "Elapsed (wall clock)" "$WORK/rl.log" | secs)
		rl_sec+=("$s"); rl_rate+=("$(awk -v n="$n" -v s="$s" 'BEGIN {printf "%d", n/s}')")
		rl_rss+=("$(tv "Maximum resident set size" "$WORK/rl.log" | awk '{printf "%.1f", $1/1024}')")

		# sqlite3 shell: the same table with the same indexes (roamclean's,
		# which roamload maintains), the same journal and sync settings
		sqlite3 "$c/db/roam.db" ".schema raw_data" | sed 's/ REFERENCES [a-z_]* ([a-z_]*)//' >"$WORK/raw.sql"
		rm -rf "$c"
		rm -f "$WORK/shell.db"*
		sqlite3 "$WORK/shell.db" "PRAGMA page_size=8192; PRAGMA journal_mode=WAL;" >/dev/null
		sqlite3 "$WORK/shell.db" <"$WORK/raw.sql"
		sync
		/usr/bin/time -v sqlite3 "$WORK/shell.db" "PRAGMA synchronous=FULL;" ".mode csv" ".import $WORK/raw-$n.csv raw_data" 2>"$WORK/sh.log" || { cat "$WORK/sh.log"; exit 1; }
		got=$(sqlite3 "$WORK/shell.db" "SELECT count(*) FROM raw_data")
		[ "$got" = "$n" ] || { echo "sqlite3 imported $got of $n records"; exit 1; }
		s=$(tv "Elapsed (wall clock)" "$WORK/sh.log" | secs)
		sh_sec+=("$s"); sh_rate+=("$(awk -v n="$n" -v s="$s" 'BEGIN {printf "%d", n/s}')")
		rm -f "$WORK/shell.db"*
		ratio+=("$(awk -v a="${sh_sec[-1]}" -v b="${rl_sec[-1]}" 'BEGIN {printf "%.2f", a/b}')")
		echo "# run $r, $n records: roamload ${rl_sec[-1]} s (${rl_rss[-1]} MB), sqlite3 .import ${sh_sec[-1]} s, ratio ${ratio[-1]}" >&2
	done
	rl=$(printf '%s\n' "${rl_rate[@]}" | median)
	sh=$(printf '%s\n' "${sh_rate[@]}" | median)
	printf "%-9s %-10s %12s %12s %7s %14s\n" "$n" roamload "$rl" "$(printf '%s\n' "${rl_sec[@]}" | median)" \
		"$(printf '%s\n' "${ratio[@]}" | median)x" "$(printf '%s\n' "${rl_rss[@]}" | median)"
	printf "%-9s %-10s %12s %12s %7s %14s\n" "$n" "sqlite3" "$sh" "$(printf '%s\n' "${sh_sec[@]}" | median)" "" ""
	bench_row roamload "$n" rec "$(printf '%s\n' "${rl_sec[@]}" | median)" "$(printf '%s\n' "${rl_rss[@]}" | median)" \
		"$(printf '%s\n' "${ratio[@]}" | median)" "sqlite3 .import" ">= 1.00"
	rm -rf "$src" "$WORK/raw-$n.csv"
done
