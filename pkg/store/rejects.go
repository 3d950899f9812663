package store

import (
	"context"
	"fmt"
)

// RejectRow is a rejected raw record with its lineage, for the sender.
type RejectRow struct {
	Sender              string
	Sequence            int64 // of the batch
	File                string
	Line, EntryID       int64
	Reason, StatusType  string
	UserName, SessionID string // as sent
	NASID, EventTime    string
	SessionTime         int64
	Problem, Created    string // the loader's note; the batch's creation
}

// RejectsFilter picks the rejected records of one sender: of a period by
// event time (From, To: stored times; "" for no bound), or those a
// reported revision recorded (Report, not 0) as they were judged when it
// was written.
type RejectsFilter struct {
	Sender   string
	From, To string
	Report   int64
}

func (f RejectsFilter) query() (string, []any) {
	// From the rejected outcomes (a partial index holds just those), not
	// the raw view: a period has millions of records and a few rejects.
	from, args := "raw_outcomes o", []any{}
	where := "o.record_status = 'rejected'"
	if f.Report != 0 {
		from, where, args = "report_rejects o", "o.report_id = ?", append(args, f.Report)
	}
	q := `SELECT b.sender, b.sequence, m.name, d.line, d.entry_id, o.reason, d.status_type, coalesce(d.user_name_sent, ''),
	coalesce(d.session_id, ''), coalesce(d.nas_id, ''), d.stop_time_gmt, d.session_time, coalesce(d.problem, ''), b.created
	FROM ` + from + ` JOIN raw_data d ON d.entry_id = o.entry_id JOIN batches b ON b.batch_id = d.batch_id
	JOIN members m ON m.member_id = d.member_id
	WHERE ` + where + ` AND b.sender = ?`
	args = append(args, f.Sender)
	if f.From != "" {
		q += " AND d.stop_time_gmt >= ? AND d.stop_time_gmt < ?"
		args = append(args, f.From, f.To)
	}
	return q + " ORDER BY b.sequence, m.position, d.line", args
}

// Rejects calls fn with each rejected record f picks, in batch, file and
// line order.
func (d *DB) Rejects(ctx context.Context, f RejectsFilter, fn func(*RejectRow) error) error {
	q, args := f.query()
	rows, err := d.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var x RejectRow
		if err := rows.Scan(&x.Sender, &x.Sequence, &x.File, &x.Line, &x.EntryID, &x.Reason, &x.StatusType, &x.UserName,
			&x.SessionID, &x.NASID, &x.EventTime, &x.SessionTime, &x.Problem, &x.Created); err != nil {
			return err
		}
		if err := fn(&x); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Rejects is DB.Rejects inside a report run's transaction (whose
// connection holds the write lock: another could not read in between).
func (t *ReportTx) Rejects(f RejectsFilter, fn func(*RejectRow) error) error {
	q, args := f.query()
	s, err := t.stmt(q)
	if err != nil {
		return err
	}
	defer s.done()
	n := 0
	for _, a := range args {
		if v, ok := a.(string); ok {
			n += len(v)
		}
	}
	if err := s.reserve(n); err != nil {
		return err
	}
	for i, a := range args {
		if err := s.bindAny(i+1, a); err != nil {
			return err
		}
	}
	for {
		ok, err := s.step()
		if err != nil || !ok {
			return err
		}
		x := RejectRow{Sender: s.colText(0), Sequence: s.colInt64(1), File: s.colText(2), Line: s.colInt64(3), EntryID: s.colInt64(4),
			Reason: s.colText(5), StatusType: s.colText(6), UserName: s.colText(7), SessionID: s.colText(8), NASID: s.colText(9),
			EventTime: s.colText(10), SessionTime: s.colInt64(11), Problem: s.colText(12), Created: s.colText(13)}
		if err := fn(&x); err != nil {
			return err
		}
	}
}

// RecordRejects records, for a revision being written, the rejected
// records of its period (event times from, to: stored times) as they are
// judged now: its REJECTS files are written from them, and written again
// or verified from them later, whatever roamclean makes of those records
// since (a copy received earlier by another route turns one into a
// DUPLICATE).
func (t *ReportTx) RecordRejects(reportID int64, from, to string) error {
	s, err := t.stmt(`INSERT INTO report_rejects (report_id, entry_id, reason)
	SELECT ?, o.entry_id, o.reason FROM raw_outcomes o JOIN raw_data d ON d.entry_id = o.entry_id
	WHERE o.record_status = 'rejected' AND d.stop_time_gmt >= ? AND d.stop_time_gmt < ?`)
	if err != nil {
		return err
	}
	if err := s.bindInt64(1, reportID); err != nil {
		return err
	}
	if err := bindTexts(s, 2, from, to); err != nil {
		return err
	}
	if err := s.exec(); err != nil {
		return fmt.Errorf("record the rejected records of report %d: %w", reportID, err)
	}
	return nil
}
