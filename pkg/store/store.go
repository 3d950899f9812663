// Package store is the central SQLite database: the batches loaded, their
// member files and the raw table of accounting records. docs/schema.md
// describes every table and column for auditors using the sqlite3 shell.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// TimeLayout is how every instant is stored: ISO-8601 in UTC, fixed width
// with nanoseconds, so text order is time order and nothing of the spool's
// RFC 3339 times is lost. SQLite's date functions read it as it is.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// LocalLayout is stop_time_local: the wall time in the record's zone, with
// that zone's UTC offset so it stays unambiguous around DST changes.
const LocalLayout = "2006-01-02T15:04:05.000000000-07:00"

// FormatTime formats an instant as stored (TimeLayout).
func FormatTime(t time.Time) string {
	var b [36]byte
	return string(appendTime(b[:0], t.UTC(), false))
}

// FormatLocal formats t in loc as stored (LocalLayout).
func FormatLocal(t time.Time, loc *time.Location) string {
	var b [40]byte
	return string(appendTime(b[:0], t.In(loc), true))
}

// appendTime writes TimeLayout (or, with offset, LocalLayout) by hand:
// time.Format parses its layout on every call, and a load formats three
// times per record.
func appendTime(b []byte, t time.Time, offset bool) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	if !offset {
		return append(b, 'Z')
	}
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = append(b, sign)
	b = appendDigits(b, off/3600, 2)
	b = append(b, ':')
	return appendDigits(b, off/60%60, 2)
}

// appendDigits writes v (0 <= v) zero-padded to width digits; years past
// 9999 or before 0 do not occur in accounting data and are clamped.
func appendDigits(b []byte, v, width int) []byte {
	if v < 0 {
		v = 0
	}
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// DB is an open roamsettle database.
type DB struct {
	sql  *sql.DB
	Path string
}

// pragmas: WAL so status and later stages read while roamload writes;
// synchronous=FULL so a COMMIT is on disk before roamload moves the batch
// out of inbound/ (NORMAL may lose the last commits on power loss, which
// would lose a batch already archived). busy_timeout lets a reader wait
// out a checkpoint instead of failing. _txlock=immediate takes the write
// lock at BEGIN, so a transaction never fails half-way on a lock upgrade.
const pragmas = "_txlock=immediate&_pragma=busy_timeout(30000)&_pragma=page_size(8192)&_journal_mode=WAL&_synchronous=FULL"

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("database path %q: a '?' is not allowed", path)
	}
	db, err := sql.Open("sqlite", path+"?"+pragmas)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// One connection: roamload is the only writer (it holds the run lock)
	// and a single connection keeps the pragmas and transactions simple.
	db.SetMaxOpenConns(1)
	d := &DB{sql: db, Path: path}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return d, nil
}

// OpenExisting is Open for readers that must not create a database: it
// returns an error satisfying errors.Is(err, fs.ErrNotExist) when there is
// none yet.
func OpenExisting(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return Open(ctx, path)
}

// IsNotExist says whether err is OpenExisting's "no database yet".
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// Close checkpoints and closes the database.
func (d *DB) Close() error { return d.sql.Close() }

// SQL is the underlying handle, for tests and read-only queries.
func (d *DB) SQL() *sql.DB { return d.sql }

// Batch is one row of the batches table.
type Batch struct {
	ID             int64
	Sender         string
	Sequence       uint64
	ManifestFile   string
	ManifestSHA256 string
	DataFile       string
	DataSize       int64
	DataSHA256     string
	Files          int64
	Records        int64
	SessionTimeSum int64
	FirstEvent     string // TimeLayout, "" when the batch has no records
	LastEvent      string
	Created        string
	LoadedAt       string
	FirstEntryID   int64 // 0 when the batch has no records
	LastEntryID    int64
}

// FindBatch returns the loaded batch sequence of sender, or nil.
func (d *DB) FindBatch(ctx context.Context, sender string, seq uint64) (*Batch, error) {
	var b Batch
	var first, last sql.NullString
	var fe, le sql.NullInt64
	err := d.sql.QueryRowContext(ctx, `SELECT batch_id, sender, sequence, manifest_file, manifest_sha256, data_file,
	data_size, data_sha256, files, records, session_time_sum, first_event, last_event, created, loaded_at,
	first_entry_id, last_entry_id FROM batches WHERE sender = ? AND sequence = ?`, sender, int64(seq)).Scan(
		&b.ID, &b.Sender, &b.Sequence, &b.ManifestFile, &b.ManifestSHA256, &b.DataFile, &b.DataSize, &b.DataSHA256,
		&b.Files, &b.Records, &b.SessionTimeSum, &first, &last, &b.Created, &b.LoadedAt, &fe, &le)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up batch %s %d: %w", sender, seq, err)
	}
	b.FirstEvent, b.LastEvent, b.FirstEntryID, b.LastEntryID = first.String, last.String, fe.Int64, le.Int64
	return &b, nil
}

// Range is a run of sequence numbers, both ends included.
type Range struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// SenderStatus sums up one sender's loaded batches.
type SenderStatus struct {
	Sender       string  `json:"sender"`
	LastSequence uint64  `json:"last_sequence"`
	Batches      int64   `json:"batches"`
	Records      int64   `json:"records"`
	LastLoadedAt string  `json:"last_loaded_at"`
	Gaps         []Range `json:"gaps"` // numbers below LastSequence never loaded
}

// Senders lists every sender with loaded batches, in sender order.
func (d *DB) Senders(ctx context.Context) ([]SenderStatus, error) {
	rows, err := d.sql.QueryContext(ctx, `SELECT sender, max(sequence), count(*), sum(records), max(loaded_at)
	FROM batches GROUP BY sender ORDER BY sender`)
	if err != nil {
		return nil, fmt.Errorf("sender status: %w", err)
	}
	var out []SenderStatus
	idx := map[string]int{}
	for rows.Next() {
		var s SenderStatus
		if err := rows.Scan(&s.Sender, &s.LastSequence, &s.Batches, &s.Records, &s.LastLoadedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sender status: %w", err)
		}
		s.Gaps = []Range{}
		idx[s.Sender] = len(out)
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sender status: %w", err)
	}
	// A gap ends just below every loaded number whose predecessor is
	// missing, and starts above the loaded number before it (or at 1).
	gaps, err := d.sql.QueryContext(ctx, `SELECT b.sender,
	coalesce((SELECT max(p.sequence) FROM batches p WHERE p.sender = b.sender AND p.sequence < b.sequence), 0) + 1,
	b.sequence - 1
	FROM batches b
	WHERE b.sequence > 1 AND NOT EXISTS
		(SELECT 1 FROM batches p WHERE p.sender = b.sender AND p.sequence = b.sequence - 1)
	ORDER BY b.sender, b.sequence`)
	if err != nil {
		return nil, fmt.Errorf("sequence gaps: %w", err)
	}
	defer gaps.Close()
	for gaps.Next() {
		var sender string
		var r Range
		if err := gaps.Scan(&sender, &r.From, &r.To); err != nil {
			return nil, fmt.Errorf("sequence gaps: %w", err)
		}
		s := &out[idx[sender]]
		s.Gaps = append(s.Gaps, r)
	}
	return out, gaps.Err()
}

// HasBatch says whether sequence seq of sender is loaded.
func (d *DB) HasBatch(ctx context.Context, sender string, seq uint64) (bool, error) {
	var n int
	err := d.sql.QueryRowContext(ctx, "SELECT count(*) FROM batches WHERE sender = ? AND sequence = ?", sender, int64(seq)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up batch %s %d: %w", sender, seq, err)
	}
	return n > 0, nil
}

// PrevSequence returns the highest loaded sequence of sender below seq,
// 0 when there is none.
func (d *DB) PrevSequence(ctx context.Context, sender string, seq uint64) (uint64, error) {
	var n int64
	err := d.sql.QueryRowContext(ctx, "SELECT coalesce(max(sequence), 0) FROM batches WHERE sender = ? AND sequence < ?", sender, int64(seq)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("look up batches of %s: %w", sender, err)
	}
	return uint64(n), nil
}
