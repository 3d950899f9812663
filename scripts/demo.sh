#!/usr/bin/env bash
# Runs the pipeline end to end on the embedded default: the example
# configuration (local folders, SQLite) and generated sample traffic.
#   ./scripts/demo.sh [WORKDIR]
# Stages: roamsim writes a FreeRADIUS detail file -> roamcollect import ->
# (roamcollect listen fed by the real radclient, when installed) ->
# roamcollect sweep -> roamcollect push (to a local folder) -> roamload ->
# roamclean -> roamreport (report, verify, publish to a local folder).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/roamsettle-demo.XXXXXX)}
mkdir -p "$work"
bin="$work/bin"

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

step "build into $bin"
(cd "$root" && go build -o "$bin/" ./cmd/...) || exit 1
cp -r "$root/example/." "$work/"
cd "$work"
export ROAM_CONFIG="$work/roam.toml"

step "generate sample traffic: 2000 sessions of June 2026 at ISPB's NAS"
"$bin/roamsim" detail --partners partners.csv --isp ISPB --sessions 2000 --seed 1 \
	--start 2026-06-01 --days 30 --nas-ip 127.0.0.1 > detail-ISPB
echo "   $(wc -l < detail-ISPB) lines in detail-ISPB"

step "roamcollect import (twice: the second run adds nothing)"
run "$bin/roamcollect" import detail-ISPB
run "$bin/roamcollect" import detail-ISPB

if command -v radclient >/dev/null 2>&1; then
	step "roamcollect listen, fed by the real radclient"
	"$bin/roamcollect" listen &
	lpid=$!
	sleep 1
	"$bin/roamsim" radclient --partners partners.csv --isp ISPB --sessions 50 --seed 2 \
		--start 2026-06-15 --days 1 > radclient.in
	radclient -q -p 20 -f radclient.in 127.0.0.1:18130 acct "$(cat secrets/nas1)" || echo "   (some requests unanswered)"
	kill -TERM "$lpid"; wait "$lpid"
else
	step "radclient not installed: skipping roamcollect listen (apt-get install freeradius-utils)"
fi

step "roamcollect sweep (close sessions left open: no Stop for longer than stale_after)"
run "$bin/roamcollect" sweep
echo "   ready: $(ls data/edge/spool/ready | wc -l) session files; open: $(ls data/edge/spool/open | wc -l)"

step "roamcollect push (to the local folder data/central/inbound)"
run "$bin/roamcollect" push
ls -l data/central/inbound

step "roamload (twice: the second run finds nothing new)"
run "$bin/roamload"
run "$bin/roamload"
run "$bin/roamload" status

step "roamclean (twice: the second run finds nothing new): raw records into sessions, every record with its reason"
run "$bin/roamclean"
run "$bin/roamclean"
run "$bin/roamclean" status
echo "   rejected records returned to ISPB: $(( $("$bin/roamclean" rejects --sender ISPB | wc -l) - 1 )) (roamclean rejects --sender ISPB)"

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

step "done: everything is under $work"
