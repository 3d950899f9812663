package clean

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/nai"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// StatusReport is what roamclean status shows; --json prints it as one
// object (docs/clean.md).
type StatusReport struct {
	Period    string           `json:"period,omitempty"`
	Records   int64            `json:"records"`   // raw records cleaned (of the period, by event time)
	Loaded    int64            `json:"loaded"`    // raw records not cleaned yet
	Sessions  int64            `json:"sessions"`  // sessions of the history (of the period, by stop time)
	Estimated int64            `json:"estimated"` // of which without a Stop
	Outcomes  map[string]int64 `json:"outcomes"`  // session, duplicate, irrelevant, rejected
	Reasons   map[string]int64 `json:"reasons"`   // reason code -> records
	LastRun   *RunStatus       `json:"last_run,omitempty"`
}

// RunStatus is the last clean run.
type RunStatus struct {
	ID         int64  `json:"id"`
	Mode       string `json:"mode"`
	FinishedAt string `json:"finished_at"`
	RecordsIn  int64  `json:"records_in"`
	Rejected   int64  `json:"rejected"`
}

func validPeriod(p string) (time.Time, error) {
	t, err := time.Parse("2006-01", p)
	if err != nil {
		return t, stage.Usagef("--period %q: want YYYY-MM", p)
	}
	return t, nil
}

// Status writes the state of the history, for a period or all of it.
func Status(ctx context.Context, s *config.Settlement, w io.Writer, period string, asJSON bool) error {
	rep := &StatusReport{Period: period, Outcomes: map[string]int64{}, Reasons: map[string]int64{}}
	for _, o := range []Outcome{Session, Duplicate, Irrelevant, Rejected} {
		rep.Outcomes[string(o)] = 0
	}
	where, sessWhere := "", ""
	var args, sessArgs []any
	if period != "" {
		p, err := validPeriod(period)
		if err != nil {
			return err
		}
		where, args = " WHERE stop_time_gmt >= ? AND stop_time_gmt < ?", []any{store.FormatTime(p), store.FormatTime(p.AddDate(0, 1, 0))}
		sessWhere, sessArgs = " WHERE period = ?", []any{period}
	}
	db, err := store.OpenExisting(ctx, s.DB)
	switch {
	case store.IsNotExist(err):
		return writeStatus(w, rep, asJSON)
	case err != nil:
		return err
	}
	defer db.Close()
	q := db.SQL()
	rows, err := q.QueryContext(ctx, "SELECT record_status, coalesce(reason, ''), count(*) FROM raw"+where+" GROUP BY 1, 2", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var status, reason string
		var n int64
		if err := rows.Scan(&status, &reason, &n); err != nil {
			return err
		}
		if status == store.RecordStatusLoaded {
			rep.Loaded += n
			continue
		}
		rep.Records += n
		rep.Outcomes[status] += n
		rep.Reasons[reason] += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := q.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(estimated), 0) FROM sessions"+sessWhere, sessArgs...).Scan(&rep.Sessions, &rep.Estimated); err != nil {
		return err
	}
	var last RunStatus
	err = q.QueryRowContext(ctx, "SELECT run_id, mode, finished_at, records_in, rejected FROM clean_runs ORDER BY run_id DESC LIMIT 1").
		Scan(&last.ID, &last.Mode, &last.FinishedAt, &last.RecordsIn, &last.Rejected)
	if err == nil {
		rep.LastRun = &last
	} else if err != sql.ErrNoRows {
		return err
	}
	return writeStatus(w, rep, asJSON)
}

func writeStatus(w io.Writer, rep *StatusReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if rep.Period != "" {
		fmt.Fprintf(tw, "period\t%s\n", rep.Period)
	}
	fmt.Fprintf(tw, "records cleaned\t%d\n", rep.Records)
	fmt.Fprintf(tw, "records not cleaned yet\t%d\n", rep.Loaded)
	fmt.Fprintf(tw, "sessions\t%d\n", rep.Sessions)
	fmt.Fprintf(tw, "estimated sessions\t%d\n", rep.Estimated)
	for _, o := range []Outcome{Session, Duplicate, Irrelevant, Rejected} {
		fmt.Fprintf(tw, "%s\t%d\n", o, rep.Outcomes[string(o)])
	}
	for _, r := range Reasons() {
		if n := rep.Reasons[r.Code]; n > 0 {
			fmt.Fprintf(tw, "  %s\t%d\n", r.Code, n)
		}
	}
	if rep.LastRun != nil {
		fmt.Fprintf(tw, "last run\t%d (%s) finished %s: %d records in, %d rejected\n", rep.LastRun.ID, rep.LastRun.Mode,
			rep.LastRun.FinishedAt, rep.LastRun.RecordsIn, rep.LastRun.Rejected)
	}
	return tw.Flush()
}

// RejectsHeader is the header of roamclean rejects' CSV.
var RejectsHeader = []string{"sender", "batch", "file", "line", "entry_id", "reason", "message",
	"status_type", "user_name", "session_id", "nas_id", "event_time", "session_time"}

// Rejects writes, as CSV, each rejected record of a sender (of a period,
// by event time): its reason, a message for people and its lineage
// (batch, spool file, line), so the sender can fix and resend it.
func Rejects(ctx context.Context, s *config.Settlement, w io.Writer, sender, period string) error {
	if period != "" {
		if _, err := validPeriod(period); err != nil {
			return err
		}
	}
	db, err := store.OpenExisting(ctx, s.DB)
	switch {
	case store.IsNotExist(err):
		cw := csv.NewWriter(w)
		cw.Write(RejectsHeader)
		cw.Flush()
		return cw.Error()
	case err != nil:
		return err
	}
	defer db.Close()
	return WriteRejects(ctx, db.SQL(), s.Partners, w, sender, period, 0)
}

// WriteRejects is Rejects on an open database, of the raw entries up to
// upTo (0: all): what a report's REJECTS file holds (pkg/report).
func WriteRejects(ctx context.Context, db *sql.DB, p *config.Partners, w io.Writer, sender, period string, upTo int64) error {
	q := `SELECT b.sender, b.sequence, m.name, r.line, r.entry_id, r.reason, r.status_type, coalesce(r.user_name_sent, ''),
	coalesce(r.session_id, ''), coalesce(r.nas_id, ''), r.stop_time_gmt, r.session_time, coalesce(r.problem, ''), b.created
	FROM raw r JOIN batches b USING (batch_id) JOIN members m USING (member_id)
	WHERE r.record_status = 'rejected' AND b.sender = ?`
	args := []any{sender}
	if period != "" {
		start, err := validPeriod(period)
		if err != nil {
			return err
		}
		q += " AND r.stop_time_gmt >= ? AND r.stop_time_gmt < ?"
		args = append(args, store.FormatTime(start), store.FormatTime(start.AddDate(0, 1, 0)))
	}
	if upTo > 0 {
		q += " AND r.entry_id <= ?"
		args = append(args, upTo)
	}
	q += " ORDER BY b.sequence, m.position, r.line"
	cw := csv.NewWriter(w)
	if err := cw.Write(RejectsHeader); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var x rejectRow
		if err := rows.Scan(&x.sender, &x.seq, &x.file, &x.line, &x.entry, &x.reason, &x.status, &x.user, &x.sid, &x.nas,
			&x.event, &x.sessionTime, &x.problem, &x.created); err != nil {
			return err
		}
		rec := []string{x.sender, batch.Name(x.sender, uint64(x.seq)), x.file, strconv.FormatInt(x.line, 10),
			strconv.FormatInt(x.entry, 10), x.reason, x.message(p), x.status, x.user, x.sid, x.nas, x.event,
			strconv.FormatInt(x.sessionTime, 10)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

type rejectRow struct {
	sender, file, reason, status, user, sid, nas, event, problem, created string
	seq, line, entry, sessionTime                                         int64
}

// message says, for the sender's people, what is wrong with the record.
func (x *rejectRow) message(p *config.Partners) string {
	user, realm := nai.Split(x.user)
	switch x.reason {
	case ReasonUnknownSender:
		return fmt.Sprintf("sender %s is no partner in partners.csv", x.sender)
	case ReasonNoUser:
		if x.user == "" {
			return "the record has no User-Name"
		}
		return fmt.Sprintf("User-Name %q has no user part", x.user)
	case ReasonNoRealm:
		return fmt.Sprintf("User-Name %q has no realm (want user@realm, REALM\\user or user%%realm)", x.user)
	case ReasonUnknownRealm:
		return fmt.Sprintf("realm %q (of user %q) belongs to no partner", strings.ToLower(realm), user)
	case ReasonBadDuration:
		return fmt.Sprintf("Acct-Session-Time %d s is over 7 days (%d s)", x.sessionTime, MaxDuration)
	case ReasonBadCounter:
		return x.problem
	case ReasonFutureEvent:
		return fmt.Sprintf("event time %s is later than the creation of its batch (%s): check the NAS's clock", x.event, x.created)
	}
	for _, r := range Reasons() {
		if r.Code == x.reason {
			return r.Meaning
		}
	}
	return x.reason
}
