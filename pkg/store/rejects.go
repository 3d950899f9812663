package store

import "context"

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
// event time (From, To: stored times; "" for no bound) and up to a raw
// entry (negative: all).
type RejectsFilter struct {
	Sender   string
	From, To string
	UpTo     int64
}

func (f RejectsFilter) query() (string, []any) {
	q := `SELECT b.sender, b.sequence, m.name, r.line, r.entry_id, r.reason, r.status_type, coalesce(r.user_name_sent, ''),
	coalesce(r.session_id, ''), coalesce(r.nas_id, ''), r.stop_time_gmt, r.session_time, coalesce(r.problem, ''), b.created
	FROM raw r JOIN batches b USING (batch_id) JOIN members m USING (member_id)
	WHERE r.record_status = 'rejected' AND b.sender = ?`
	args := []any{f.Sender}
	if f.From != "" {
		q += " AND r.stop_time_gmt >= ? AND r.stop_time_gmt < ?"
		args = append(args, f.From, f.To)
	}
	if f.UpTo >= 0 {
		q += " AND r.entry_id <= ?"
		args = append(args, f.UpTo)
	}
	return q + " ORDER BY b.sequence, m.position, r.line", args
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
