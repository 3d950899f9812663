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
	f, err := RejectsOf(sender, period)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Write(RejectsHeader)
	db, err := store.OpenExisting(ctx, s.DB)
	switch {
	case store.IsNotExist(err):
	case err != nil:
		return err
	default:
		defer db.Close()
		if err := db.Rejects(ctx, f, func(x *store.RejectRow) error { return cw.Write(RejectRecord(x, s.Partners)) }); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// RejectsOf is the filter of a sender's rejected records of a period
// ("" for all).
func RejectsOf(sender, period string) (store.RejectsFilter, error) {
	f := store.RejectsFilter{Sender: sender}
	if period != "" {
		start, err := validPeriod(period)
		if err != nil {
			return f, err
		}
		f.From, f.To = store.FormatTime(start), store.FormatTime(start.AddDate(0, 1, 0))
	}
	return f, nil
}

// RejectRecord is a rejected record as a row of RejectsHeader.
func RejectRecord(x *store.RejectRow, p *config.Partners) []string {
	return []string{x.Sender, batch.Name(x.Sender, uint64(x.Sequence)), x.File, strconv.FormatInt(x.Line, 10),
		strconv.FormatInt(x.EntryID, 10), x.Reason, message(x, p), x.StatusType, x.UserName, x.SessionID, x.NASID, x.EventTime,
		strconv.FormatInt(x.SessionTime, 10)}
}

// message says, for the sender's people, what is wrong with the record.
func message(x *store.RejectRow, p *config.Partners) string {
	user, realm := nai.Split(x.UserName)
	switch x.Reason {
	case ReasonUnknownSender:
		return fmt.Sprintf("sender %s is no partner in partners.csv", x.Sender)
	case ReasonNoUser:
		if x.UserName == "" {
			return "the record has no User-Name"
		}
		return fmt.Sprintf("User-Name %q has no user part", x.UserName)
	case ReasonNoRealm:
		return fmt.Sprintf("User-Name %q has no realm (want user@realm, REALM\\user or user%%realm)", x.UserName)
	case ReasonUnknownRealm:
		return fmt.Sprintf("realm %q (of user %q) belongs to no partner", strings.ToLower(realm), user)
	case ReasonBadDuration:
		return fmt.Sprintf("Acct-Session-Time %d s is over 7 days (%d s)", x.SessionTime, MaxDuration)
	case ReasonBadCounter:
		return x.Problem
	case ReasonFutureEvent:
		return fmt.Sprintf("event time %s is later than the creation of its batch (%s): check the NAS's clock", x.EventTime, x.Created)
	}
	for _, r := range Reasons() {
		if r.Code == x.Reason {
			return r.Meaning
		}
	}
	return x.Reason
}
