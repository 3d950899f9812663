#!/usr/bin/env bash
# Benchmark `roamcollect listen` against FreeRADIUS writing a detail file,
# with the same radclient load: REQUESTS Accounting-Requests (Start/Stop
# pairs), PARALLEL outstanding at a time. Prints acknowledged requests/s of
# both and the ratio, per round and the median of ROUNDS rounds.
#
# roamcollect answers only after the record is fsynced; FreeRADIUS's detail
# module does not fsync. Everything runs on 127.0.0.1 in a temporary folder;
# /etc is only read (the FreeRADIUS configuration is copied).
#
#   bench/listen.sh                    # 20000 requests, -p 100, 3 rounds
#   REQUESTS=50000 ROUNDS=5 bench/listen.sh
#   ROAMCOLLECT=/path/to/roamcollect bench/listen.sh   # skip the build
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
PARALLEL=${PARALLEL:-100}
ROUNDS=${ROUNDS:-3}
SECRET=benchsecret

cd "$(dirname "$0")/.."
. bench/lib.sh # bench_row

need_pkg() { # command package
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
	echo "installing $2" >&2
	apt-get install -y -q "$2" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null; }
}
need_pkg radclient freeradius-utils
need_pkg freeradius freeradius
FREERADIUS=$(command -v freeradius || echo /usr/sbin/freeradius)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/listen-bench.XXXXXX")
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
# Each round's folder is kept until the exit: this disk is ext4 without a
# journal, whose inode allocator skips (one inode-table lookup each) every
# inode freed in the last 60 s (360 s while its block is dirty), so
# removing a round's 10,000 spool files made the next round's file
# creations the listener's largest cost (docs/performance.md). FreeRADIUS
# creates no inode per request and was not affected.

if [ -n "${ROAMCOLLECT:-}" ]; then # a binary built earlier
	cp "$ROAMCOLLECT" "$WORK/roamcollect"
else
	go build -o "$WORK/roamcollect" ./cmd/roamcollect
fi

free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_udp PORT: until something answers a Status-Server or the port is bound.
wait_bound() {
	for _ in $(seq 100); do
		if ss -Hlun "sport = :$1" | grep -q .; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

# The load: Start then Stop of REQUESTS/2 sessions, in radclient's file form.
python3 - "$REQUESTS" >"$WORK/load.txt" <<'EOF'
import sys
n = int(sys.argv[1]) // 2
out = []
for i in range(n):
    common = ('Acct-Session-Id = "bench%07d"\nUser-Name = "user%d@aimnet.com"\n'
              'NAS-IP-Address = 127.0.0.1\nNAS-Port = %d\nNAS-Port-Type = Ethernet\n'
              'Calling-Station-Id = "02-00-00-%02X-%02X-%02X"\n' % (i, i % 997, i, i >> 16 & 255, i >> 8 & 255, i & 255))
    out.append('Acct-Status-Type = Start\n' + common)
    out.append('Acct-Status-Type = Stop\n' + common +
               'Acct-Session-Time = %d\nAcct-Input-Octets = %d\nAcct-Output-Octets = %d\n'
               'Acct-Terminate-Cause = User-Request\n' % (60 + i % 3600, i * 1000, i * 3000))
sys.stdout.write('\n'.join(out))
EOF

# drive PORT: runs radclient, prints "acknowledged seconds radclient-cpu".
drive() {
	local start end out acked rcpu
	start=$(date +%s.%N)
	out=$(bash -c 'TIMEFORMAT="radclient-cpu %U %S"; time radclient "$@"' radclient \
		-s -q -p "$PARALLEL" -t 5 -r 1 -f "$WORK/load.txt" "127.0.0.1:$1" acct "$SECRET" 2>&1 || true)
	end=$(date +%s.%N)
	acked=$(printf '%s\n' "$out" | awk '/Accepted/ {print $3}')
	rcpu=$(printf '%s\n' "$out" | awk '/^radclient-cpu/ {printf "%.2f", $2 + $3}')
	echo "${acked:-0} $(echo "$end - $start" | bc -l) ${rcpu:-?}"
}

rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }

# cpu PID: CPU seconds (user + system) the process has used so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
# hwm PID: the process's peak RSS so far, MB.
hwm() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# --- FreeRADIUS: a throwaway copy of the Debian configuration ---
setup_freeradius() { # dir port
	local d=$1 port=$2
	cp -a /etc/freeradius/3.0 "$d"
	mkdir -p "$d/log" "$d/run" "$d/radacct"
	sed -i -e "s|^raddbdir = .*|raddbdir = $d|" -e "s|^logdir = .*|logdir = $d/log|" \
		-e "s|^run_dir = .*|run_dir = $d/run|" -e "s|^radacctdir = .*|radacctdir = $d/radacct|" \
		-e 's|^\(\s*\)user = |\1#user = |' -e 's|^\(\s*\)group = |\1#group = |' "$d/radiusd.conf"
	rm -f "$d"/sites-enabled/* "$d"/mods-enabled/*
	for m in always expr; do ln -s ../mods-available/$m "$d/mods-enabled/$m"; done
	cat >"$d/mods-enabled/detail" <<EOF
detail {
	filename = $d/radacct/detail
	escape_filenames = no
	permissions = 0600
	header = "%t"
	locking = no
}
EOF
	cat >"$d/sites-enabled/bench" <<EOF
server bench {
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = $port
	}
	preacct {
		ok
	}
	accounting {
		detail
	}
}
EOF
	cat >"$d/clients.conf" <<EOF
client bench {
	ipaddr = 127.0.0.1
	secret = $SECRET
}
EOF
}

run_freeradius() {
	local d="$WORK/fr$1" port pid
	port=$(free_port)
	setup_freeradius "$d" "$port"
	"$FREERADIUS" -f -d "$d" -l "$d/log/radius.log" &
	pid=$!
	PIDS+=("$pid")
	wait_bound "$port"
	read -r acked secs rcpu < <(drive "$port")
	local used
	used=$(cpu "$pid")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	local written
	written=$(grep -c 'Acct-Status-Type' "$d/radacct/detail" || true)
	echo "freeradius   round $1: acknowledged $acked in ${secs}s = $(rate "$acked" "$secs") req/s (detail records $written, not fsynced; CPU server ${used}s, radclient ${rcpu}s)" >&2
	rate "$acked" "$secs"
}

run_roamcollect() {
	local d="$WORK/rc$1" port pid
	port=$(free_port)
	mkdir -p "$d"
	cat >"$d/roam.toml" <<EOF
[edge]
isp = "BENCH"
spool = "spool"
listen = "127.0.0.1:$port"
[[edge.nas]]
name = "nas1"
address = "127.0.0.1"
secret = "$SECRET"
EOF
	"$WORK/roamcollect" --config "$d/roam.toml" listen 2>"$d/log" &
	pid=$!
	PIDS+=("$pid")
	wait_bound "$port"
	read -r acked secs rcpu < <(drive "$port")
	local used rss
	used=$(cpu "$pid")
	rss=$(hwm "$pid")
	kill -TERM "$pid"; wait "$pid" || { echo "roamcollect exited $?" >&2; cat "$d/log" >&2; }
	local written
	written=$(cat "$d"/spool/open/*.sess "$d"/spool/ready/*.sess 2>/dev/null | grep -c '^status_type=' || true)
	echo "roamcollect  round $1: acknowledged $acked in ${secs}s = $(rate "$acked" "$secs") req/s (spool records $written, durable before each answer; CPU server ${used}s, radclient ${rcpu}s, peak RSS ${rss} MB)" >&2
	echo "$(rate "$acked" "$secs") $secs $rss"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "load: $REQUESTS requests ($((REQUESTS / 2)) Start/Stop pairs), radclient -p $PARALLEL, $ROUNDS rounds, $(nproc) cores" >&2
fr=() rc=() rcs=() rss=()
for r in $(seq "$ROUNDS"); do
	fr+=("$(run_freeradius "$r")")
	read -r a b c < <(run_roamcollect "$r")
	rc+=("$a") rcs+=("$b") rss+=("$c")
done
frm=$(printf '%s\n' "${fr[@]}" | median)
rcm=$(printf '%s\n' "${rc[@]}" | median)
ratio=$(echo "$rcm / $frm" | bc -l | xargs printf '%.2f')
echo "median acknowledged requests/s: freeradius $frm, roamcollect $rcm, ratio roamcollect/freeradius $ratio"
bench_row "roamcollect listen" "$REQUESTS" req "$(printf '%s\n' "${rcs[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)" "$ratio" "FreeRADIUS detail" ">= 1.00"
