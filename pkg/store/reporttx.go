package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Charge is one row of charges: a session of a reported period as it was
// rated, with the session fields the reports show, so a report can be
// written again from its charges alone. TariffLine 0 is a session no
// tariff row applied to (NO_TARIFF), priced at nothing and reported as an
// exception. Amounts are in cents.
type Charge struct {
	SessionKey, Digest      string
	Local, Home             string
	UserName, SessionID     string
	StopUTC, StopLocal      string // as stored (TimeLayout, LocalLayout)
	Duration                int64
	TariffLine              int64
	Billed                  int64
	Provider, Consumer, Fee int64
}

// PeriodSession is what the rater reads of a session.
type PeriodSession struct {
	Key, Digest, Local, Home, UserName, SessionID string
	StartLocal, StopUTC, StopLocal                string
	Duration                                      int64
}

// Report is a row of reports: one reported revision of a period.
type Report struct {
	ID, Revision                     int64
	Period, Folder, CreatedAt        string
	Sessions, Exceptions, Seconds    int64
	Billed, Provider, Consumer, Fees int64
	TariffsSHA256, ContentSHA256     string
	FirstCharge, LastCharge          int64
	// RejectsUpTo is the last raw entry cleaned when the revision was
	// written. Its REJECTS files list the rejected records it recorded
	// then (RecordRejects), so writing them again gives the same bytes.
	RejectsUpTo int64
}

// ReportTx is one roamreport run's transaction, on the C API (a period
// holds a million sessions).
type ReportTx struct {
	rawTx
}

// BeginReport starts a report run: with write, it takes the write lock at
// once (a reporting run); without, it only reads (verify).
func (d *DB) BeginReport(ctx context.Context, write bool) (*ReportTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := openRaw(d.Path)
	if err != nil {
		return nil, err
	}
	t := &ReportTx{rawTx: newRawTx(c)}
	begin := "BEGIN"
	if write {
		begin = "BEGIN IMMEDIATE"
	}
	if err := c.exec("PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384; " + begin); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func bindTexts(s *rawStmt, from int, vals ...string) error {
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	if err := s.reserve(n); err != nil {
		return err
	}
	for i, v := range vals {
		if err := s.bindText(from+i, v); err != nil {
			return err
		}
	}
	return nil
}

// SessionCursor walks the sessions of a period in the order of the DT
// file: by stop time (UTC), user, session id, and key (so ties are fixed).
type SessionCursor struct {
	s   *rawStmt
	row PeriodSession
	err error
}

// CleanedUpTo is the last raw entry the cleaner has judged (0: none).
func (t *ReportTx) CleanedUpTo() (int64, error) {
	return t.c.queryInt64("SELECT coalesce(max(entry_id), 0) FROM raw_outcomes")
}

// CountSessions is the number of sessions a period holds (for progress).
func (t *ReportTx) CountSessions(period string) (int64, error) {
	s, err := t.stmt("SELECT count(*) FROM sessions WHERE period = ?")
	if err != nil {
		return 0, err
	}
	if err := bindTexts(s, 1, period); err != nil {
		return 0, err
	}
	defer s.done()
	if _, err := s.step(); err != nil {
		return 0, err
	}
	return s.colInt64(0), nil
}

// OpenSessions starts a walk of a period's sessions. Cursors have their
// own statement: several may walk at once on the transaction.
func (t *ReportTx) OpenSessions(period string) (*SessionCursor, error) {
	s, err := t.c.prepare(`SELECT session_key, digest, local_isp, home_isp, user_name, session_id, start_local, stop_utc, stop_local,
	duration FROM sessions WHERE period = ? ORDER BY stop_utc, user_name, session_id, session_key`)
	if err != nil {
		return nil, err
	}
	if err := bindTexts(s, 1, period); err != nil {
		s.close()
		return nil, err
	}
	return &SessionCursor{s: s}, nil
}

// Next moves to the next session; false at the end or on an error (Err).
func (c *SessionCursor) Next() bool {
	if c.err != nil || c.s == nil {
		return false
	}
	ok, err := c.s.step()
	if err != nil || !ok {
		c.err = err
		c.Close()
		return false
	}
	s := c.s
	c.row = PeriodSession{Key: s.colText(0), Digest: s.colText(1), Local: s.colText(2), Home: s.colText(3), UserName: s.colText(4),
		SessionID: s.colText(5), StartLocal: s.colText(6), StopUTC: s.colText(7), StopLocal: s.colText(8), Duration: s.colInt64(9)}
	return true
}

// Row is the current session.
func (c *SessionCursor) Row() *PeriodSession { return &c.row }

// Err is the error that ended the walk.
func (c *SessionCursor) Err() error { return c.err }

// Close ends the walk early.
func (c *SessionCursor) Close() {
	if c.s != nil {
		c.s.close()
		c.s = nil
	}
}

// LatestReport returns the latest reported revision of a period; ok
// false when the period was never reported.
func (t *ReportTx) LatestReport(period string) (Report, bool, error) {
	return t.report("SELECT "+reportColumns+" FROM reports WHERE period = ? ORDER BY revision DESC LIMIT 1", period)
}

// ReportRevision returns one revision of a period.
func (t *ReportTx) ReportRevision(period string, revision int64) (Report, bool, error) {
	return t.report("SELECT "+reportColumns+" FROM reports WHERE period = ? AND revision = "+strconv.FormatInt(revision, 10), period)
}

const reportColumns = `report_id, revision, period, folder, created_at, sessions, exceptions, seconds, billed_seconds, provider,
	consumer, fees, tariffs_sha256, content_sha256, coalesce(first_charge_id, 0), coalesce(last_charge_id, 0), rejects_upto`

func (t *ReportTx) report(q, period string) (Report, bool, error) {
	s, err := t.stmt(q)
	if err != nil {
		return Report{}, false, err
	}
	if err := bindTexts(s, 1, period); err != nil {
		return Report{}, false, err
	}
	ok, err := s.step()
	if err != nil || !ok {
		return Report{}, false, err
	}
	r := Report{ID: s.colInt64(0), Revision: s.colInt64(1), Period: s.colText(2), Folder: s.colText(3), CreatedAt: s.colText(4),
		Sessions: s.colInt64(5), Exceptions: s.colInt64(6), Seconds: s.colInt64(7), Billed: s.colInt64(8), Provider: s.colInt64(9),
		Consumer: s.colInt64(10), Fees: s.colInt64(11), TariffsSHA256: s.colText(12), ContentSHA256: s.colText(13),
		FirstCharge: s.colInt64(14), LastCharge: s.colInt64(15), RejectsUpTo: s.colInt64(16)}
	s.done()
	return r, true, nil
}

// ChargeCursor walks a report's charges in their order (the DT file's).
type ChargeCursor struct {
	s   *rawStmt
	row Charge
	err error
}

// OpenCharges starts a walk of a report's charges.
func (t *ReportTx) OpenCharges(r Report) (*ChargeCursor, error) {
	s, err := t.c.prepare(`SELECT session_key, digest, local_isp, home_isp, user_name, session_id, stop_utc, stop_local, duration,
	coalesce(tariff_line, 0), billed_seconds, provider, consumer, fee FROM charges WHERE charge_id BETWEEN ? AND ? ORDER BY charge_id`)
	if err != nil {
		return nil, err
	}
	if err := s.bindInt64(1, r.FirstCharge); err == nil {
		err = s.bindInt64(2, r.LastCharge)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return &ChargeCursor{s: s}, nil
}

// Next moves to the next charge; false at the end or on an error (Err).
func (c *ChargeCursor) Next() bool {
	if c.err != nil || c.s == nil {
		return false
	}
	ok, err := c.s.step()
	if err != nil || !ok {
		c.err = err
		c.Close()
		return false
	}
	s := c.s
	c.row = Charge{SessionKey: s.colText(0), Digest: s.colText(1), Local: s.colText(2), Home: s.colText(3), UserName: s.colText(4),
		SessionID: s.colText(5), StopUTC: s.colText(6), StopLocal: s.colText(7), Duration: s.colInt64(8), TariffLine: s.colInt64(9),
		Billed: s.colInt64(10), Provider: s.colInt64(11), Consumer: s.colInt64(12), Fee: s.colInt64(13)}
	return true
}

// Row is the current charge.
func (c *ChargeCursor) Row() *Charge { return &c.row }

// Err is the error that ended the walk.
func (c *ChargeCursor) Err() error { return c.err }

// Close ends the walk early.
func (c *ChargeCursor) Close() {
	if c.s != nil {
		c.s.close()
		c.s = nil
	}
}

// NewReport reserves the next report id and the first charge id.
func (t *ReportTx) NewReport() (reportID, firstCharge int64, err error) {
	if reportID, err = t.c.queryInt64("SELECT coalesce(max(report_id), 0) + 1 FROM reports"); err != nil {
		return 0, 0, err
	}
	firstCharge, err = t.c.queryInt64("SELECT coalesce(max(charge_id), 0) + 1 FROM charges")
	return reportID, firstCharge, err
}

// AddCharge inserts a charge with the given id.
func (t *ReportTx) AddCharge(id, reportID int64, c *Charge) error {
	s, err := t.stmt(`INSERT INTO charges (charge_id, report_id, session_key, digest, local_isp, home_isp, user_name, session_id,
	stop_utc, stop_local, duration, tariff_line, billed_seconds, provider, consumer, fee) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	if err := s.bindInt64(1, id); err != nil {
		return err
	}
	if err := s.bindInt64(2, reportID); err != nil {
		return err
	}
	if err := bindTexts(s, 3, c.SessionKey, c.Digest, c.Local, c.Home, c.UserName, c.SessionID, c.StopUTC, c.StopLocal); err != nil {
		return err
	}
	for i, v := range []int64{c.Duration, c.TariffLine, c.Billed, c.Provider, c.Consumer, c.Fee} {
		if i == 1 && v == 0 {
			err = s.bindNull(12)
		} else {
			err = s.bindInt64(11+i, v)
		}
		if err != nil {
			return err
		}
	}
	return s.exec()
}

// AddReport records a reported revision (its charges added already).
func (t *ReportTx) AddReport(r *Report) error {
	s, err := t.stmt(`INSERT INTO reports (report_id, period, revision, folder, created_at, sessions, exceptions, seconds,
	billed_seconds, provider, consumer, fees, tariffs_sha256, content_sha256, first_charge_id, last_charge_id, rejects_upto)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	var first, last any
	if r.LastCharge >= r.FirstCharge && r.LastCharge > 0 {
		first, last = r.FirstCharge, r.LastCharge
	}
	vals := []any{r.ID, r.Period, r.Revision, r.Folder, r.CreatedAt, r.Sessions, r.Exceptions, r.Seconds, r.Billed,
		r.Provider, r.Consumer, r.Fees, r.TariffsSHA256, r.ContentSHA256, first, last, r.RejectsUpTo}
	if err := s.reserve(len(r.Period) + len(r.Folder) + len(r.CreatedAt) + len(r.TariffsSHA256) + len(r.ContentSHA256)); err != nil {
		return err
	}
	for i, v := range vals {
		if err := s.bindAny(i+1, v); err != nil {
			return err
		}
	}
	return s.exec()
}

// ParseLocal reads a local time as stored (LocalLayout), keeping its
// offset: the wall clock a tariff band reads.
func ParseLocal(s string) (time.Time, error) {
	t, err := time.Parse(LocalLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a stored local time", s)
	}
	return t, nil
}

// chargeCols are a charge's columns in the diff's temporary tables, in
// the order AddCompared and Diff use.
const chargeCols = `session_key TEXT PRIMARY KEY, digest TEXT, local_isp TEXT, home_isp TEXT, user_name TEXT, session_id TEXT,
	stop_utc TEXT, stop_local TEXT, duration INTEGER, tariff_line INTEGER, billed_seconds INTEGER, provider INTEGER,
	consumer INTEGER, fee INTEGER`

// BeginDiff makes the run's temporary tables of the two sides to compare:
// temp.old from a report's charges, temp.cur filled with AddCompared.
func (t *ReportTx) BeginDiff(old Report) error {
	return t.c.exec(`DROP TABLE IF EXISTS temp.cur; DROP TABLE IF EXISTS temp.old;
CREATE TEMP TABLE cur (` + chargeCols + `) WITHOUT ROWID;
CREATE TEMP TABLE old (` + chargeCols + `) WITHOUT ROWID;
INSERT INTO temp.old SELECT session_key, digest, local_isp, home_isp, user_name, session_id, stop_utc, stop_local, duration,
	coalesce(tariff_line, 0), billed_seconds, provider, consumer, fee FROM charges
	WHERE charge_id BETWEEN ` + strconv.FormatInt(old.FirstCharge, 10) + ` AND ` + strconv.FormatInt(old.LastCharge, 10))
}

// AddCompared adds a line of the new side.
func (t *ReportTx) AddCompared(c *Charge) error {
	s, err := t.stmt("INSERT INTO temp.cur VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	if err := bindTexts(s, 1, c.SessionKey, c.Digest, c.Local, c.Home, c.UserName, c.SessionID, c.StopUTC, c.StopLocal); err != nil {
		return err
	}
	for i, v := range []int64{c.Duration, c.TariffLine, c.Billed, c.Provider, c.Consumer, c.Fee} {
		if err := s.bindInt64(9+i, v); err != nil {
			return err
		}
	}
	return s.exec()
}

// Diff calls fn for each session added, removed or changed between the
// two sides (old or new nil for the first two), by session key; limit 0
// means all.
func (t *ReportTx) Diff(limit int, fn func(kind string, old, new *Charge) error) error {
	// 30 columns: kind, key, the old charge's 14, the new one's 14.
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", 14), ", ")
	q := `SELECT * FROM (
	SELECT 'changed' AS kind, o.session_key AS k, o.*, n.* FROM temp.old o JOIN temp.cur n ON n.session_key = o.session_key
		WHERE o.digest IS NOT n.digest OR o.tariff_line IS NOT n.tariff_line OR o.billed_seconds IS NOT n.billed_seconds
		OR o.provider IS NOT n.provider OR o.consumer IS NOT n.consumer OR o.fee IS NOT n.fee
	UNION ALL SELECT 'removed', o.session_key, o.*, ` + nulls + `
		FROM temp.old o WHERE NOT EXISTS (SELECT 1 FROM temp.cur c WHERE c.session_key = o.session_key)
	UNION ALL SELECT 'added', n.session_key, ` + nulls + `, n.*
		FROM temp.cur n WHERE NOT EXISTS (SELECT 1 FROM temp.old o WHERE o.session_key = n.session_key)
	) ORDER BY k`
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	s, err := t.c.prepare(q)
	if err != nil {
		return err
	}
	defer s.close()
	read := func(at int) *Charge {
		if s.colNull(at) {
			return nil
		}
		return &Charge{SessionKey: s.colText(at), Digest: s.colText(at + 1), Local: s.colText(at + 2), Home: s.colText(at + 3),
			UserName: s.colText(at + 4), SessionID: s.colText(at + 5), StopUTC: s.colText(at + 6), StopLocal: s.colText(at + 7),
			Duration: s.colInt64(at + 8), TariffLine: s.colInt64(at + 9), Billed: s.colInt64(at + 10), Provider: s.colInt64(at + 11),
			Consumer: s.colInt64(at + 12), Fee: s.colInt64(at + 13)}
	}
	for {
		ok, err := s.step()
		if err != nil || !ok {
			return err
		}
		if err := fn(s.colText(0), read(2), read(16)); err != nil {
			return err
		}
	}
}

// DiffCount counts the differences between the two sides.
func (t *ReportTx) DiffCount() (int64, error) {
	var n int64
	err := t.Diff(0, func(string, *Charge, *Charge) error { n++; return nil })
	return n, err
}
