#!/usr/bin/env bash
# bench/e2e.sh [SESSIONS] — the end-to-end benchmark: SESSIONS (default
# 1000000) sessions from an edge spool to published reports, on one host,
# local folders, each command run as cron would run it:
#
#   roamcollect sweep -> roamcollect push (to the central inbound folder)
#   -> roamload -> roamclean -> roamreport --period 2026-06 --publish
#   (to a local publish folder)
#
# bench/genspool writes the ready spool first (one file per session, Start
# and Stop, ten partners), outside the timed part: it is the listener's
# work, measured by bench/listen.sh. Each step is timed with
# /usr/bin/time -v (seconds, peak RSS); the whole is their sum. The run is
# checked: every session reaches the history and the operator's report,
# and every ISP's MANIFEST is published. There is no reference tool for
# the whole; the goal is 1M sessions in under 2 minutes.
#
#   bench/e2e.sh                 # 1M sessions (~10 GB of scratch: ~1 GB per 100,000)
#   bench/e2e.sh 10000           # a smoke test
#   WORK=/var/tmp/e2e KEEP=1 bench/e2e.sh   # where data goes; keep it
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-1000000}
bench_setup e2e.sh
go build -o "$WORK/bin/" ./cmd/roamcollect ./cmd/roamload ./cmd/roamclean ./cmd/roamreport ./bench/genspool

d="$WORK/e2e"
rm -rf "$d"
mkdir -p "$d/secrets"
t0=$(date +%s.%N)
"$WORK/bin/genspool" -sessions "$n" -out "$d" 2>"$WORK/genspool.log"
echo "# e2e: $n sessions generated in $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s (not timed); $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo testing123 >"$d/secrets/nas1"
chmod 600 "$d/secrets/nas1"
# One file serves the edge and the central host, as example/roam.toml does.
cat >"$d/roam.toml" <<'TOML'
[settlement]
operator = "Roam Clearing"
currency = "USD"
partners = "partners.csv"
tariffs  = "tariffs.csv"
fee_per_session = "0.0100"
fee_per_minute  = "0.0020"
inbound    = "central/inbound"
archive    = "central/archive"
quarantine = "central/quarantine"
db         = "central/roam.db"
reports    = "central/reports"
publish    = "publish"

[edge]
isp   = "ISPB"
spool = "spool"
listen = "127.0.0.1:18130"  # never started here
stale_after = "6h"
timezone = "Australia/Sydney"
push = "central/inbound"

[[edge.nas]]
name = "nas1"
address = "127.0.0.1"
secret_file = "secrets/nas1"
TOML
mkdir -p "$d/central/inbound"
sync # start with nothing left to write back from the generator

total=0 tmax=0
per_s() { awk -v n="$1" -v s="$2" 'BEGIN {if (s > 0) printf "%.0f", n / s; else print "-"}'; }
printf "%-12s %10s %14s %10s\n" step seconds "sessions/s" "peak RSS (MB)"
# step NAME CMD...: runs CMD in $d under /usr/bin/time -v; exit 0 or 3
# (done, something set aside for a person) go on, anything else stops.
step() {
	local name=$1 log="$WORK/e2e-$1.log" code s rss
	shift
	set +e
	(cd "$d" && /usr/bin/time -v "$@" 2>"$log")
	code=$?
	set -e
	if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then
		echo "e2e: $name exited $code" >&2; tail -20 "$log" >&2; exit 1
	fi
	s=$(tv "Elapsed (wall clock)" "$log" | secs)
	rss=$(tv "Maximum resident set size" "$log" | awk '{printf "%.0f", $1/1024}')
	total=$(echo "$total + $s" | bc)
	[ "$rss" -le "$tmax" ] || tmax=$rss
	printf "%-12s %10.2f %14s %10s%s\n" "$name" "$s" "$(per_s "$n" "$s")" "$rss" "$( [ "$code" -eq 0 ] || echo "   (exit 3)")"
	grep -h "summary:" "$log" | cut -c1-200 | sed 's/^/#   /'
	bench_row "e2e: $name" "$n" sess "$s" "$rss" - - -
}
cfg=(--config roam.toml)
step sweep "$WORK/bin/roamcollect" "${cfg[@]}" sweep
step push "$WORK/bin/roamcollect" "${cfg[@]}" push
step load "$WORK/bin/roamload" "${cfg[@]}"
step clean "$WORK/bin/roamclean" "${cfg[@]}"
step report "$WORK/bin/roamreport" "${cfg[@]}" --period 2026-06 --publish
printf "%-12s %10.2f %14s %10s\n" total "$total" "$(per_s "$n" "$total")" "$tmax"

# The run did what it says: every session in the history and the
# operator's report, every ISP's set published.
got=$(sqlite3 "$d/central/roam.db" "SELECT count(*) FROM sessions")
rated=$(awk '$1 == "sessions" {print $2}' "$d/central/reports/2026-06/operator/MANIFEST")
manifests=$(find "$d/publish" -name MANIFEST | wc -l)
left=$(find "$d/spool/ready" -type f | wc -l)
echo "#   sessions: $n generated, $got in the history, $rated rated; $manifests ISP sets published; $left files left in ready/"
if [ "$got" != "$n" ] || [ "$rated" != "$n" ] || [ "$manifests" -lt 1 ] || [ "$left" -ne 0 ]; then
	echo "e2e: the pipeline lost something" >&2; exit 1
fi
bench_row "end to end" "$n" sess "$total" "$tmax" - - "1M < 120 s"
