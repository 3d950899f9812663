#!/usr/bin/env bash
# Runs the pipeline end to end on the embedded default: the example
# configuration (local folders, SQLite) and generated sample traffic for a
# month of five ISPs in five time zones, with the noise a real month has
# (retransmitted duplicates, realm variants, missing Stops, unknown realms,
# sessions across the period's borders).
#   ./scripts/demo.sh [WORKDIR]
# RADCLIENT= (empty) uses roamsim's built-in NAS even where radclient is
# installed.
# Two edges: ISPB imports a FreeRADIUS detail file and runs a listener;
# ISPD runs a listener (example/edge-ISPD.toml). Each listener is fed by the
# real radclient when installed, else by roamsim's built-in NAS. Then:
# sweep -> push (to the local central folder) -> roamload -> roamclean ->
# roamreport (report, verify, publish to a local folder, status).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/roamsettle-demo.XXXXXX)}
mkdir -p "$work"
bin="$work/bin"
radclient=${RADCLIENT-$(command -v radclient || true)}
SECONDS=0

step() { printf '\n== %s\n' "$*"; }
# run CMD...: exit 0 is fine, 3 (done, input set aside for a person) is
# shown and accepted, anything else stops the demo.
run() {
	"$@"
	local rc=$?
	case $rc in
	0) ;;
	3) echo "   (exit 3: done, some input needs a person — expected for the sample's deliberate noise)" ;;
	*) echo "demo: '$*' exited $rc" >&2; exit "$rc" ;;
	esac
}

# feed CONFIG ISP ADDR SECRET SIM-ARGS...: a listener on ADDR fed with
# generated traffic, by radclient when installed, else by roamsim send.
feed() {
	local cfg=$1 isp=$2 addr=$3 secret=$4
	shift 4
	: > "listen-$isp.log"
	"$bin/roamcollect" --config "$cfg" listen 2>>"listen-$isp.log" &
	local lpid=$! rc
	for _ in $(seq 50); do
		grep -q "listening for RADIUS" "listen-$isp.log" && break
		kill -0 "$lpid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "listening for RADIUS" "listen-$isp.log"; then
		kill -TERM "$lpid" 2>/dev/null; wait "$lpid"
		echo "demo: the $isp listener ($cfg) did not start on $addr:" >&2
		grep -v '^$' "listen-$isp.log" | tail -3 | sed 's/^/   /' >&2
		echo "demo: is another program using UDP port ${addr##*:} (ss -ulpn | grep ${addr##*:})? Stop it, or change listen in $cfg" >&2
		exit 1
	fi
	if [ -n "$radclient" ]; then
		"$bin/roamsim" radclient --partners partners.csv --isp "$isp" "$@" > "radclient-$isp.in"
		echo "   radclient: $(grep -c Acct-Status-Type "radclient-$isp.in") requests to $addr"
		"$radclient" -q -p 20 -f "radclient-$isp.in" "$addr" acct "$(cat "$secret")" || echo "   (some requests unanswered)"
	else
		echo "   (radclient not installed: roamsim's built-in NAS sends the same traffic; apt-get install freeradius-utils for the real one)"
		"$bin/roamsim" send --partners partners.csv --isp "$isp" --to "$addr" --secret-file "$secret" "$@" | sed 's/^/   /'
	fi
	kill -TERM "$lpid"; wait "$lpid"; rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "demo: the $isp listener exited $rc:" >&2
		tail -3 "listen-$isp.log" | sed 's/^/   /' >&2
		exit 1
	fi
	echo "   listener $isp: $(grep -o 'summary: [^"]*' "listen-$isp.log" | tail -1)"
}

step "build into $bin"
(cd "$root" && go build -o "$bin/" ./cmd/...) || exit 1
cp -r "$root/example/." "$work/"
cd "$work"
export ROAM_CONFIG="$work/roam.toml"
echo "   partners (partners.csv):"
sed 's/^/     /' partners.csv

step "edge ISPB (roam.toml): FreeRADIUS detail file of 2000 sessions of June 2026, imported twice (the second run adds nothing)"
"$bin/roamsim" detail --partners partners.csv --isp ISPB --sessions 2000 --seed 1 \
	--start 2026-06-01 --days 30 --nas-ip 127.0.0.1 > detail-ISPB
echo "   $(wc -l < detail-ISPB) lines in detail-ISPB"
run "$bin/roamcollect" import detail-ISPB
run "$bin/roamcollect" import detail-ISPB

step "edge ISPB: its listener, 50 more sessions on 15 June"
feed roam.toml ISPB 127.0.0.1:18130 secrets/nas1 --sessions 50 --seed 2 --start 2026-06-15 --days 1

step "edge ISPD (edge-ISPD.toml): its listener, 1500 sessions from 25 May to 3 July (some across the month's borders)"
feed edge-ISPD.toml ISPD 127.0.0.1:18131 secrets/nas-ispd --sessions 1500 --seed 3 --start 2026-05-25 --days 40 --nas-id tokyo-ap1

step "roamcollect sweep on both edges (close sessions left open: no Stop for longer than stale_after)"
run "$bin/roamcollect" sweep
run "$bin/roamcollect" --config edge-ISPD.toml sweep
echo "   ISPB ready: $(ls data/edge/spool/ready | wc -l) session files; ISPD ready: $(ls data/edge-ISPD/spool/ready | wc -l)"

step "roamcollect push on both edges (to the local folder data/central/inbound; SFTP in production)"
run "$bin/roamcollect" push
run "$bin/roamcollect" --config edge-ISPD.toml push
ls -l data/central/inbound

step "roamload (twice: the second run finds nothing new)"
run "$bin/roamload"
run "$bin/roamload"
run "$bin/roamload" status

step "roamclean (twice: the second run finds nothing new): raw records into sessions, every record with its reason"
run "$bin/roamclean"
run "$bin/roamclean"
run "$bin/roamclean" status
for isp in ISPB ISPD; do
	echo "   rejected records returned to $isp: $(( $("$bin/roamclean" rejects --sender $isp | wc -l) - 1 )) (roamclean rejects --sender $isp)"
done

if command -v sqlite3 >/dev/null 2>&1; then
	step "the history (docs/schema.md): outcomes, a few sessions, and one traced to its raw records, batch, file and line"
	sqlite3 -header -column data/central/roam.db \
		"SELECT record_status, reason, count(*) AS records FROM raw GROUP BY 1, 2 ORDER BY 1, 2;"
	sqlite3 -header -column data/central/roam.db \
		"SELECT user_name, home_isp, local_isp, start_local, duration, estimated FROM sessions ORDER BY stop_utc LIMIT 3;"
	sqlite3 -header -column data/central/roam.db \
		"SELECT r.entry_id, r.status_type, r.reason, r.pair_status, b.sender, b.sequence, m.name AS file, r.line
		   FROM raw r JOIN batches b ON b.batch_id = r.batch_id JOIN members m ON m.member_id = r.member_id
		  WHERE r.session_key = (SELECT session_key FROM sessions ORDER BY stop_utc LIMIT 1) ORDER BY r.stop_time_gmt;"
fi

step "roamreport for June 2026 (twice: the second run finds the history unchanged and does nothing), then verify"
run "$bin/roamreport" --period 2026-06
run "$bin/roamreport" --period 2026-06
run "$bin/roamreport" verify --period 2026-06
echo "   the operator's credit/debit table (data/central/reports/2026-06/operator/creditdebit.csv):"
sed 's/^/     /' data/central/reports/2026-06/operator/creditdebit.csv
echo "   each ISP's folder (data/central/reports/2026-06/ISPB/):"
ls data/central/reports/2026-06/ISPB | sed 's/^/     /'
echo "   its reports for people: report.txt, e.g. the top of ISPB's, and the same as a web page with charts, statement.html:"
head -12 data/central/reports/2026-06/ISPB/report.txt | sed 's/^/     /'
echo "     file://$PWD/data/central/reports/2026-06/ISPB/statement.html"

step "roamreport publish (twice: the second run finds every file there and sends nothing), then status"
run "$bin/roamreport" publish --period 2026-06
run "$bin/roamreport" publish --period 2026-06
run "$bin/roamreport" status
echo "   what ISPB finds in its directory (data/publish/ISPB/2026-06):"
ls data/publish/ISPB/2026-06 | sed 's/^/     /'

step "where each ISP finds its statement (the HTML page; report.txt beside it for a terminal)"
for d in data/publish/*/2026-06; do
	isp=${d#data/publish/}; isp=${isp%/2026-06}
	printf '   %-5s %s\n' "$isp" "file://$PWD/$d/statement.html"
done
echo "   the operator's credit/debit table, once more:"
column -s, -t < data/central/reports/2026-06/operator/creditdebit.csv | sed 's/^/     /'

step "done in ${SECONDS}s: everything is under $work"
