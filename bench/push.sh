#!/usr/bin/env bash
# bench/push.sh [FILES] [RUNS] — time `roamcollect push` of FILES ready
# sessions (default 100000) over loopback SFTP to a throwaway sshd, end to
# end, against OpenSSH's `sftp put` of the same batch tar; RUNS times
# (default 3), then the medians. Needs openssh-server and openssh-client.
# A report, not a pass/fail: the machine is shared, so compare medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh # bench_row
files=${1:-100000}
runs=${2:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$runs"); do
	ROAM_BENCH_PUSH=$files go test ./pkg/push/ -run '^TestBenchPush$' -count=1 -v -timeout 30m |
		grep '^BENCH' | tee -a "$out"
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { grep -o " $1=[0-9.]*" "$out" | cut -d= -f2 | median; }
push=$(field push_s)
put=$(field sftp_put_s)
# The per-run ratio compares two timings taken a moment apart, so it moves
# less with the load of a shared machine than the ratio of the medians.
printf 'median of %d runs, %d files, %s bytes: roamcollect push %.3f s, sftp put %.3f s (ratio of medians %.2f); median per-run ratio %.2f (goal <= 1.5)\n' \
	"$runs" "$files" "$(field tar_bytes)" "$push" "$put" "$(echo "$push / $put" | bc -l)" "$(field ratio)"
# the table's ratio is the reference's time over ours, like every stage's
bench_row "roamcollect push" "$files" files "$push" "$(field push_rss_mb)" "$(field speed_ratio)" "sftp put" ">= 0.67 (time <= 1.5x)"
