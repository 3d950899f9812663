# shellcheck shell=bash
# Shared by the bench/*.sh scripts: settings, the tools they need, and the
# figures' helpers. Sourced, not run.

SIZES=${SIZES:-"100000 1000000"}
RUNS=${RUNS:-3}
WORK=${WORK:-}
KEEP=${KEEP:-}
# BENCH_ROWS: when set, a file each script appends its summary rows to
# (bench_row), for bench/all.sh to print as one table.
BENCH_ROWS=${BENCH_ROWS:-}

# bench_setup NAME: installs /usr/bin/time and sqlite3 when missing, makes
# $WORK/bin, and removes $WORK at exit unless KEEP is set.
bench_setup() {
	local need=()
	[ -x /usr/bin/time ] || need+=(time)
	command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
	if [ ${#need[@]} -gt 0 ]; then
		echo "$1: installing ${need[*]}" >&2
		local SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
		$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	# made here, not when sourced, so a script that only wants the helpers
	# leaves no empty folder behind
	[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/roambench.XXXXXX)
	mkdir -p "$WORK/bin"
	[ -n "$KEEP" ] || trap 'rm -rf "$WORK"' EXIT
}

# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# tv KEY FILE: a value from /usr/bin/time -v output
tv() { awk -F': ' -v k="$1" 'index($0, k) {print $2}' "$2" | tail -1; }
# [h:]m:ss.ss on stdin to seconds
secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }

# bench_row STAGE VOLUME UNIT SECONDS RSS_MB RATIO REFERENCE GOAL: appends one
# tab-separated row to $BENCH_ROWS (nothing when it is unset): the stage,
# the volume in UNITs, the (median) seconds, the rate in UNITs per second,
# peak RSS in MB, the ratio to the reference tool as its speed over ours
# (the reference's time over ours: above 1 is faster than the reference;
# "-" when there is none), the reference tool and the goal in the same
# terms.
bench_row() {
	[ -n "$BENCH_ROWS" ] || return 0
	awk -v OFS='\t' -v st="$1" -v n="$2" -v u="$3" -v s="$4" -v rss="$5" -v ratio="$6" -v ref="$7" -v goal="$8" 'BEGIN {
		print st, n " " u, sprintf("%.2f", s), ((s > 0) ? sprintf("%.0f", n / s) : "-") " " u "/s", rss, ratio, ref, goal
	}' >>"$BENCH_ROWS"
}
