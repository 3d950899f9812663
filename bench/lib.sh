# Shared by the bench/*.sh scripts that time a stage against sqlite3:
# settings, the tools they need, and the figures' helpers. Sourced, not run.

SIZES=${SIZES:-"100000 1000000"}
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d /tmp/roambench.XXXXXX)}
KEEP=${KEEP:-}

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
	mkdir -p "$WORK/bin"
	[ -n "$KEEP" ] || trap 'rm -rf "$WORK"' EXIT
}

# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# tv KEY FILE: a value from /usr/bin/time -v output
tv() { awk -F': ' -v k="$1" 'index($0, k) {print $2}' "$2" | tail -1; }
# [h:]m:ss.ss on stdin to seconds
secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
