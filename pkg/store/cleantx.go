package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// CleanRecord is a raw row as roamclean reads it: what the rules need,
// the lineage that orders copies whatever the load order, and its
// current outcome.
type CleanRecord struct {
	EntryID        int64
	BatchID        int64
	MemberID       int64
	Line           int64
	UserNameSent   string
	StatusType     string
	SessionID      string
	SessionTime    int64
	NASID          string
	EventTime      time.Time // stop_time_gmt
	EventStamped   bool
	Received       time.Time // create_date
	InputOctets    int64     // NullCounter when NULL
	OutputOctets   int64
	InputPackets   int64
	OutputPackets  int64
	TerminateCause string
	Problem        string
	// The outcome it has now (all "" / 0 while it is only loaded).
	RecordStatus, Reason, PairStatus, SessionKey string
	DuplicateOf                                  int64
}

// BatchOf is what roamclean needs of a batch.
type BatchOf struct {
	Sender   string
	Sequence uint64
	Created  time.Time
}

// Outcome is what roamclean writes on a raw row.
type Outcome struct {
	RecordStatus, Reason, PairStatus, SessionKey string
	DuplicateOf                                  int64
}

// Session is a row of the sessions table. Times are UTC; the local ones
// are formatted in Zone.
type Session struct {
	Key, Period, LocalISP, HomeISP, UserName, User, Realm, NASID, SessionID string
	Start, Stop                                                             time.Time
	Zone                                                                    *time.Location
	Duration, InputOctets, OutputOctets, InputPackets, OutputPackets        int64
	TerminateCause                                                          string
	Estimated, StartDerived, CounterReset                                   bool
	Records                                                                 int64
	StartEntryID, FinalEntryID                                              int64 // StartEntryID 0: no Start
	Revision                                                                int64
	Digest                                                                  string
	cols                                                                    []string // texts, kept by SessionDigest for PutSession
}

// cleanSelect reads every CleanRecord, columns in this order: what
// roamload wrote (raw_data) and what roamclean decided so far
// (raw_outcomes).
const cleanSelect = `SELECT d.entry_id, d.batch_id, d.member_id, d.line, d.user_name_sent, d.status_type, d.session_id,
	d.session_time, d.nas_id, d.stop_time_gmt, d.event_stamped, d.create_date, d.input_octets, d.output_octets,
	d.input_packets, d.output_packets, d.terminate_cause, d.problem, o.record_status, o.reason, o.pair_status,
	o.session_key, o.duplicate_of
	FROM raw_data d LEFT JOIN raw_outcomes o ON o.entry_id = d.entry_id `

// CleanTx is one roamclean run: one write transaction on a connection
// that reads and writes through SQLite's C API (the run touches every new
// row twice, where database/sql's per-value costs would dominate).
// Nothing is visible to others before Commit.
type CleanTx struct {
	rawTx
	batches map[int64]BatchOf
	strings map[string]string // interned column values (readClean)
}

// BeginClean starts a clean run: it takes the write lock at once (BEGIN
// IMMEDIATE) and reads the batches.
func (d *DB) BeginClean(ctx context.Context) (*CleanTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := openRaw(d.Path)
	if err != nil {
		return nil, err
	}
	t := &CleanTx{rawTx: newRawTx(c), batches: map[int64]BatchOf{}, strings: map[string]string{}}
	if err := c.exec("PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384; PRAGMA temp_store = FILE"); err != nil {
		t.close()
		return nil, err
	}
	if err := c.exec("BEGIN IMMEDIATE"); err != nil {
		t.close()
		return nil, err
	}
	s, err := t.stmt("SELECT batch_id, sender, sequence, created FROM batches")
	if err != nil {
		t.Rollback()
		return nil, err
	}
	for {
		ok, err := s.step()
		if err != nil {
			t.Rollback()
			return nil, err
		}
		if !ok {
			break
		}
		created, err := ParseTime(s.colText(3))
		if err != nil {
			s.done()
			t.Rollback()
			return nil, fmt.Errorf("batch %d: created: %w", s.colInt64(0), err)
		}
		t.batches[s.colInt64(0)] = BatchOf{Sender: s.colText(1), Sequence: uint64(s.colInt64(2)), Created: created}
	}
	return t, nil
}

// Batch returns a batch by id.
func (t *CleanTx) Batch(id int64) (BatchOf, bool) {
	b, ok := t.batches[id]
	return b, ok
}

// Exec runs statements without results (the run's own temporary tables).
func (t *CleanTx) Exec(sql string) error { return t.c.exec(sql) }

// QueryInt64 runs a query returning one integer.
func (t *CleanTx) QueryInt64(sql string) (int64, error) { return t.c.queryInt64(sql) }

// scan reads CleanRecords from a query selecting cleanColumns.
func (t *CleanTx) scan(s *rawStmt, fn func(*CleanRecord) error) error {
	var r CleanRecord
	for {
		ok, err := s.step()
		if err != nil || !ok {
			return err
		}
		if err := t.readClean(s, &r); err != nil {
			s.done()
			return err
		}
		if err := fn(&r); err != nil {
			s.done()
			return err
		}
	}
}

func (t *CleanTx) readClean(s *rawStmt, r *CleanRecord) error {
	counter := func(i int) int64 {
		if s.colNull(i) {
			return NullCounter
		}
		return s.colInt64(i)
	}
	// Status types, NAS names, terminate causes and outcomes take a few
	// values each: interned, a run of millions of rows allocates them once.
	*r = CleanRecord{
		EntryID: s.colInt64(0), BatchID: s.colInt64(1), MemberID: s.colInt64(2), Line: s.colInt64(3),
		UserNameSent: s.colText(4), StatusType: t.intern(s.colBytes(5)), SessionID: s.colText(6), SessionTime: s.colInt64(7),
		NASID: t.intern(s.colBytes(8)), EventStamped: s.colInt64(10) != 0,
		InputOctets: counter(12), OutputOctets: counter(13), InputPackets: counter(14), OutputPackets: counter(15),
		TerminateCause: t.intern(s.colBytes(16)), Problem: s.colText(17),
		RecordStatus: t.intern(s.colBytes(18)), Reason: t.intern(s.colBytes(19)), PairStatus: t.intern(s.colBytes(20)),
		SessionKey: s.colText(21), DuplicateOf: s.colInt64(22),
	}
	var err error
	if r.EventTime, err = parseTimeBytes(s.colBytes(9)); err != nil {
		return fmt.Errorf("raw entry %d: stop_time_gmt: %w", r.EntryID, err)
	}
	if r.Received, err = parseTimeBytes(s.colBytes(11)); err != nil {
		return fmt.Errorf("raw entry %d: create_date: %w", r.EntryID, err)
	}
	return nil
}

// intern returns b as a string, the same one for the same bytes, up to a
// bound (beyond it, a fresh string: still correct).
func (t *CleanTx) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := t.strings[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	if len(t.strings) < 4096 {
		t.strings[s] = s
	}
	return s
}

// ScanRaw streams the raw rows with after < entry_id <= upto, in entry
// order, without their outcomes (GroupRecords gives those): a first run's
// scan is then a plain walk of raw_data.
func (t *CleanTx) ScanRaw(after, upto int64, fn func(*CleanRecord) error) error {
	s, err := t.stmt(`SELECT d.entry_id, d.batch_id, d.member_id, d.line, d.user_name_sent, d.status_type, d.session_id,
	d.session_time, d.nas_id, d.stop_time_gmt, d.event_stamped, d.create_date, d.input_octets, d.output_octets,
	d.input_packets, d.output_packets, d.terminate_cause, d.problem, NULL, NULL, NULL, NULL, NULL
	FROM raw_data d WHERE d.entry_id > ? AND d.entry_id <= ? ORDER BY d.entry_id`)
	if err != nil {
		return err
	}
	if err := s.bindInt64(1, after); err != nil {
		return err
	}
	if err := s.bindInt64(2, upto); err != nil {
		return err
	}
	return t.scan(s, fn)
}

// GroupRecords calls fn for every raw row of a NAS and session id with an
// entry id of at most upto (all senders: the caller keeps its own).
func (t *CleanTx) GroupRecords(nas, sid string, upto int64, fn func(*CleanRecord) error) error {
	s, err := t.stmt(cleanSelect + "WHERE d.nas_id = ? AND d.session_id = ? AND d.entry_id <= ?")
	if err != nil {
		return err
	}
	if err := s.reserve(len(nas) + len(sid)); err != nil {
		return err
	}
	if err := s.bindText(1, nas); err != nil {
		return err
	}
	if err := s.bindText(2, sid); err != nil {
		return err
	}
	if err := s.bindInt64(3, upto); err != nil {
		return err
	}
	return t.scan(s, fn)
}

// NASControls calls fn for every raw row of a NAS without a session id
// (its Accounting-On/Off) up to entry id upto.
func (t *CleanTx) NASControls(nas string, upto int64, fn func(*CleanRecord) error) error {
	s, err := t.stmt(cleanSelect + "WHERE d.nas_id = ? AND d.session_id IS NULL AND d.entry_id <= ?")
	if err != nil {
		return err
	}
	if err := s.reserve(len(nas)); err != nil {
		return err
	}
	if err := s.bindText(1, nas); err != nil {
		return err
	}
	if err := s.bindInt64(2, upto); err != nil {
		return err
	}
	return t.scan(s, fn)
}

// SessionIDsAround lists the session ids of the sessions of a local ISP's
// NAS that an Accounting-On/Off at time at may split: started before it,
// stopped no earlier than slack before it. A session lasts at most
// longest, so it stopped before at+longest: the period index bounds the
// search (an On/Off that arrives late is rare; no index of its own pays).
func (t *CleanTx) SessionIDsAround(local, nas string, at time.Time, slack, longest time.Duration) ([]string, error) {
	s, err := t.stmt(`SELECT session_id FROM sessions WHERE period >= ? AND period <= ? AND stop_utc >= ? AND stop_utc < ?
	AND start_utc < ? AND local_isp = ? AND nas_id = ?`)
	if err != nil {
		return nil, err
	}
	lo, hi := at.Add(-slack), at.Add(longest)
	vals := []string{lo.UTC().Format("2006-01"), hi.UTC().Format("2006-01"), FormatTime(lo), FormatTime(hi), FormatTime(at), local, nas}
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	if err := s.reserve(n); err != nil {
		return nil, err
	}
	for i, v := range vals {
		if err := s.bindText(i+1, v); err != nil {
			return nil, err
		}
	}
	var out []string
	for {
		ok, err := s.step()
		if err != nil || !ok {
			return out, err
		}
		out = append(out, s.colText(0))
	}
}

// SetOutcome writes a raw row's outcome in raw_outcomes, with the run
// that decided it (the raw view shows its start as history_time):
// raw_data, what roamload wrote, is never changed.
func (t *CleanTx) SetOutcome(entry int64, o Outcome, run int64) error {
	s, err := t.stmt(`INSERT OR REPLACE INTO raw_outcomes (record_status, reason, pair_status, session_key, duplicate_of,
	run_id, entry_id) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	if err := s.reserve(len(o.RecordStatus) + len(o.Reason) + len(o.PairStatus) + len(o.SessionKey)); err != nil {
		return err
	}
	for i, v := range []string{o.RecordStatus, o.Reason, o.PairStatus, o.SessionKey} {
		if err := s.bindText(i+1, v); err != nil {
			return err
		}
	}
	if o.DuplicateOf != 0 {
		err = s.bindInt64(5, o.DuplicateOf)
	} else {
		err = s.bindNull(5)
	}
	if err != nil {
		return err
	}
	if err := s.bindInt64(6, run); err != nil {
		return err
	}
	if err := s.bindInt64(7, entry); err != nil {
		return err
	}
	return s.exec()
}

// sessionColumns are the sessions table's columns in Session.values order.
const sessionColumns = `session_key, period, local_isp, home_isp, user_name, user, realm, nas_id, session_id,
	start_utc, start_local, stop_utc, stop_local, time_zone, duration, input_octets, output_octets, input_packets,
	output_packets, terminate_cause, estimated, start_derived, counter_reset, records, start_entry_id, final_entry_id,
	revision, digest`

// texts are the session's columns as text, in sessionColumns order
// without revision and digest: what the digest is made of.
func (s *Session) texts() []string {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	zone := s.Zone
	if zone == nil {
		zone = time.UTC
	}
	start := ""
	if s.StartEntryID != 0 {
		start = i(s.StartEntryID)
	}
	return []string{s.Key, s.Period, s.LocalISP, s.HomeISP, s.UserName, s.User, s.Realm, s.NASID, s.SessionID,
		FormatTime(s.Start), FormatLocal(s.Start, zone), FormatTime(s.Stop), FormatLocal(s.Stop, zone), zone.String(),
		i(s.Duration), i(s.InputOctets), i(s.OutputOctets), i(s.InputPackets), i(s.OutputPackets), s.TerminateCause,
		b(s.Estimated), b(s.StartDerived), b(s.CounterReset), i(s.Records), start, i(s.FinalEntryID)}
}

// SessionDigest is the digest of a session's content: every column but
// revision and digest, so a change of any of them changes it. Entry ids
// are part of it: a session rebuilt from other rows is a change to trace.
func SessionDigest(s *Session) string {
	s.cols = s.texts()
	h := sha256.New()
	for _, v := range s.cols {
		h.Write([]byte(v))
		h.Write([]byte{0x1f})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SessionState is what is known of a stored session: its revision and
// digest, and the highest raw entry id it was made of.
type SessionState struct {
	Revision int64
	Digest   string
	MaxEntry int64
}

// SessionState returns the stored state of a session; ok false when none.
func (t *CleanTx) SessionState(key string) (SessionState, bool, error) {
	s, err := t.stmt("SELECT revision, digest, max(coalesce(start_entry_id, 0), final_entry_id) FROM sessions WHERE session_key = ?")
	if err != nil {
		return SessionState{}, false, err
	}
	if err := s.reserve(len(key)); err != nil {
		return SessionState{}, false, err
	}
	if err := s.bindText(1, key); err != nil {
		return SessionState{}, false, err
	}
	ok, err := s.step()
	if err != nil || !ok {
		return SessionState{}, false, err
	}
	st := SessionState{Revision: s.colInt64(0), Digest: s.colText(1), MaxEntry: s.colInt64(2)}
	s.done()
	return st, true, nil
}

// PutSession inserts or replaces a session row.
func (t *CleanTx) PutSession(x *Session) error {
	s, err := t.stmt("INSERT OR REPLACE INTO sessions (" + sessionColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	texts := x.cols
	if texts == nil {
		texts = x.texts()
	}
	n := len(x.Digest)
	for _, v := range texts {
		n += len(v)
	}
	if err := s.reserve(n); err != nil {
		return err
	}
	// Integer columns are bound as integers, the others as text.
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	ints := [...]int64{14: x.Duration, 15: x.InputOctets, 16: x.OutputOctets, 17: x.InputPackets, 18: x.OutputPackets,
		20: b(x.Estimated), 21: b(x.StartDerived), 22: b(x.CounterReset), 23: x.Records, 24: x.StartEntryID, 25: x.FinalEntryID}
	for k, v := range texts {
		switch {
		case k == 24 && x.StartEntryID == 0:
			err = s.bindNull(k + 1)
		case k >= 14 && k <= 25 && k != 19:
			err = s.bindInt64(k+1, ints[k])
		default:
			err = s.bindText(k+1, v)
		}
		if err != nil {
			return err
		}
	}
	if err := s.bindInt64(27, x.Revision); err != nil {
		return err
	}
	if err := s.bindText(28, x.Digest); err != nil {
		return err
	}
	return s.exec()
}

// DeleteSession removes a session row.
func (t *CleanTx) DeleteSession(key string) error {
	s, err := t.stmt("DELETE FROM sessions WHERE session_key = ?")
	if err != nil {
		return err
	}
	if err := s.reserve(len(key)); err != nil {
		return err
	}
	if err := s.bindText(1, key); err != nil {
		return err
	}
	return s.exec()
}

// parseTimeBytes is ParseTime of a column in place.
func parseTimeBytes(b []byte) (time.Time, error) {
	var buf [len(TimeLayout)]byte
	if len(b) != len(buf) {
		return parseSlow(string(b))
	}
	copy(buf[:], b)
	return ParseTime(string(buf[:])) // the conversion does not escape: no allocation
}

// ParseTime reads an instant as stored (TimeLayout), by hand: a run
// reads two per row.
func ParseTime(s string) (time.Time, error) {
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[29] != 'Z' {
		return parseSlow(s)
	}
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	h, ok4 := num(11, 13)
	mi, ok5 := num(14, 16)
	se, ok6 := num(17, 19)
	ns, ok7 := num(20, 29)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
		return parseSlow(s)
	}
	return time.Date(y, time.Month(mo), d, h, mi, se, ns, time.UTC), nil
}

func parseSlow(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a stored time", s)
	}
	return t.UTC(), nil
}

// ExecInt runs a statement with one integer parameter (prepared once).
func (t *CleanTx) ExecInt(sql string, v int64) error {
	s, err := t.stmt(sql)
	if err != nil {
		return err
	}
	if err := s.bindInt64(1, v); err != nil {
		return err
	}
	return s.exec()
}

// Touched returns the state a session had before this run, from the
// run's temporary touched table: touched false when the run has not
// changed it yet.
func (t *CleanTx) Touched(key string) (before SessionState, existed, touched bool, err error) {
	s, err := t.stmt("SELECT old_revision, old_digest FROM temp.touched WHERE session_key = ?")
	if err != nil {
		return before, false, false, err
	}
	if err := s.reserve(len(key)); err != nil {
		return before, false, false, err
	}
	if err := s.bindText(1, key); err != nil {
		return before, false, false, err
	}
	ok, err := s.step()
	if err != nil || !ok {
		return before, false, false, err
	}
	existed = !s.colNull(0)
	before = SessionState{Revision: s.colInt64(0), Digest: s.colText(1)}
	s.done()
	return before, existed, true, nil
}

// Touch records the state a session had before the run changes it.
func (t *CleanTx) Touch(key string, before SessionState, existed bool) error {
	s, err := t.stmt("INSERT INTO temp.touched (session_key, old_revision, old_digest) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	if err := s.reserve(len(key) + len(before.Digest)); err != nil {
		return err
	}
	if err := s.bindText(1, key); err != nil {
		return err
	}
	if existed {
		err = s.bindInt64(2, before.Revision)
		if err == nil {
			err = s.bindText(3, before.Digest)
		}
	} else {
		err = s.bindNull(2)
		if err == nil {
			err = s.bindNull(3)
		}
	}
	if err != nil {
		return err
	}
	return s.exec()
}

// CountOutcomes counts the raw rows with after < entry_id <= upto that
// have an outcome.
func (t *CleanTx) CountOutcomes(after, upto int64) (int64, error) {
	s, err := t.stmt("SELECT count(*) FROM raw_outcomes WHERE entry_id > ? AND entry_id <= ?")
	if err != nil {
		return 0, err
	}
	if err := s.bindInt64(1, after); err != nil {
		return 0, err
	}
	if err := s.bindInt64(2, upto); err != nil {
		return 0, err
	}
	if _, err := s.step(); err != nil {
		return 0, err
	}
	n := s.colInt64(0)
	s.done()
	return n, nil
}

// SessionChange is a session the run added, changed or removed.
type SessionChange struct {
	Key, Change              string // added, changed, removed
	OldRevision, NewRevision int64
	OldDigest, NewDigest     string
}

// Changes lists the sessions the run changed or removed, compared with
// before it (sessions it added are counted, not listed).
func (t *CleanTx) Changes() ([]SessionChange, error) {
	s, err := t.stmt(`SELECT t.session_key, t.old_revision, coalesce(t.old_digest, ''), s.revision, coalesce(s.digest, '')
	FROM temp.touched t LEFT JOIN sessions s ON s.session_key = t.session_key
	WHERE t.old_digest IS NOT NULL AND t.old_digest IS NOT s.digest ORDER BY t.session_key`)
	if err != nil {
		return nil, err
	}
	var out []SessionChange
	for {
		ok, err := s.step()
		if err != nil || !ok {
			return out, err
		}
		c := SessionChange{Key: s.colText(0), OldRevision: s.colInt64(1), OldDigest: s.colText(2), NewRevision: s.colInt64(3), NewDigest: s.colText(4)}
		switch {
		case c.NewDigest == "":
			c.Change = "removed"
		default:
			c.Change = "changed"
		}
		out = append(out, c)
	}
}

// CleanRun is a row of clean_runs.
type CleanRun struct {
	Mode, Period                                    string
	StartedAt, FinishedAt                           string
	FirstEntryID, LastEntryID                       int64 // 0, 0: no records
	RecordsIn, SessionRecords, Duplicates           int64
	Irrelevant, Rejected, Reclassified              int64
	Reasons                                         string // JSON object: code -> count
	SessionsAdded, SessionsChanged, SessionsRemoved int64
}

// NextRunID is the id the run will have: its outcome rows carry it.
func (t *CleanTx) NextRunID() (int64, error) {
	return t.c.queryInt64("SELECT coalesce(max(run_id), 0) + 1 FROM clean_runs")
}

// AddRun records the run, with the id NextRunID gave, and its session
// changes.
func (t *CleanTx) AddRun(id int64, r *CleanRun, changes []SessionChange) error {
	s, err := t.stmt(`INSERT INTO clean_runs (run_id, mode, period, started_at, finished_at, first_entry_id, last_entry_id,
	records_in, session_records, duplicates, irrelevant, rejected, reasons, reclassified, sessions_added, sessions_changed,
	sessions_removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	var first, last any
	if r.LastEntryID > 0 {
		first, last = r.FirstEntryID, r.LastEntryID
	}
	vals := []any{id, r.Mode, r.Period, r.StartedAt, r.FinishedAt, first, last, r.RecordsIn, r.SessionRecords, r.Duplicates,
		r.Irrelevant, r.Rejected, r.Reasons, r.Reclassified, r.SessionsAdded, r.SessionsChanged, r.SessionsRemoved}
	if err := s.reserve(len(r.Mode) + len(r.Period) + len(r.StartedAt) + len(r.FinishedAt) + len(r.Reasons)); err != nil {
		return err
	}
	for i, v := range vals {
		if err := s.bindAny(i+1, v); err != nil {
			return err
		}
	}
	if err := s.exec(); err != nil {
		return err
	}
	cs, err := t.stmt(`INSERT INTO session_changes (run_id, session_key, change, old_revision, new_revision, old_digest, new_digest)
	VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	for _, c := range changes {
		var or, nr any
		if c.OldDigest != "" {
			or = c.OldRevision
		}
		if c.NewDigest != "" {
			nr = c.NewRevision
		}
		if err := cs.reserve(len(c.Key) + len(c.Change) + len(c.OldDigest) + len(c.NewDigest)); err != nil {
			return err
		}
		for i, v := range []any{id, c.Key, c.Change, or, nr, c.OldDigest, c.NewDigest} {
			if err := cs.bindAny(i+1, v); err != nil {
				return err
			}
		}
		if err := cs.exec(); err != nil {
			return err
		}
	}
	return nil
}
