package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/spool"
)

func TestOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roam.db")
	for i := 0; i < 2; i++ { // the second open finds the schema current
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var v, n int
		var mode string
		db.SQL().QueryRow("PRAGMA user_version").Scan(&v)
		db.SQL().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n)
		db.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
		if v != Version() || n != len(migrations) || mode != "wal" {
			t.Errorf("open %d: user_version %d, %d migrations logged, journal %s", i, v, n, mode)
		}
		db.Close()
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roam.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.SQL().Exec("PRAGMA user_version = 99")
	db.Close()
	if _, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("open of a newer schema: %v", err)
	}
}

func TestOpenExistingDoesNotCreate(t *testing.T) {
	_, err := OpenExisting(context.Background(), filepath.Join(t.TempDir(), "none.db"))
	if !IsNotExist(err) {
		t.Fatalf("got %v", err)
	}
}

func testManifest(seq uint64, records int64) *batch.Manifest {
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	return &batch.Manifest{Sender: "ISPB", Sequence: seq, Created: t0, DataFile: batch.Name("ISPB", seq) + batch.DataExt,
		DataSHA256: strings.Repeat("a", 64), Totals: batch.Totals{Files: 1, Records: records, FirstEvent: t0, LastEvent: t0}}
}

func TestRollbackLeavesNothing(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "roam.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := spool.Record{StatusType: spool.Start, NAS: "nas1", EventTime: time.Now(), Received: time.Now()}
	mb := &batch.Member{Name: "a.sess", Index: 1, Records: 700, SHA256: strings.Repeat("c", 64)}
	for _, commit := range []bool{false, true} {
		tx, err := db.BeginBatch(ctx, BatchInfo{Manifest: testManifest(1, 700), ManifestFile: "x", ManifestSHA256: strings.Repeat("b", 64)})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 700; i++ { // more than one chunk and a partial INSERT
			if err := tx.AddRecord(mb, i+2, &rec); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		var rows, batches, members int
		db.SQL().QueryRow("SELECT count(*) FROM raw").Scan(&rows)
		db.SQL().QueryRow("SELECT count(*) FROM batches").Scan(&batches)
		db.SQL().QueryRow("SELECT count(*) FROM members").Scan(&members)
		want := 0
		if commit {
			want = 1
		}
		if rows != 700*want || batches != want || members != want {
			t.Errorf("commit %v: %d rows, %d batches, %d members", commit, rows, batches, members)
		}
	}
	b, err := db.FindBatch(ctx, "ISPB", 1)
	if err != nil || b == nil || b.FirstEntryID != 1 || b.LastEntryID != 700 || b.Records != 700 {
		t.Fatalf("FindBatch: %+v %v", b, err)
	}
}

// TestCounterTooLarge: a 64-bit counter beyond SQLite's integers (a legal
// Gigawords + Octets pair) is the record's problem, recorded on its row,
// never the batch's.
func TestCounterTooLarge(t *testing.T) {
	var r Row
	r.Fill(&spool.Record{InputOctets: math.MaxUint64, OutputPackets: 1 << 63, OutputOctets: math.MaxInt64}, Zones{})
	if r.InputOctets != NullCounter || r.OutputPackets != NullCounter || r.OutputOctets != math.MaxInt64 {
		t.Errorf("counters %d %d %d", r.InputOctets, r.OutputPackets, r.OutputOctets)
	}
	for _, want := range []string{"input_octets 18446744073709551615 is larger", "; output_packets 9223372036854775808"} {
		if !strings.Contains(r.Problem, want) {
			t.Errorf("problem %q does not say %q", r.Problem, want)
		}
	}
	r.Fill(&spool.Record{InputOctets: 5}, Zones{})
	if r.Problem != "" || r.InputOctets != 5 {
		t.Errorf("a reused row kept the problem: %q", r.Problem)
	}
}

func TestSendersAndGaps(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "roam.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, seq := range []uint64{3, 4, 7, 9} {
		tx, err := db.BeginBatch(ctx, BatchInfo{Manifest: testManifest(seq, 0), ManifestFile: "x", ManifestSHA256: "y"})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := db.Senders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].LastSequence != 9 || st[0].Batches != 4 {
		t.Fatalf("%+v", st)
	}
	if got := st[0].Gaps; len(got) != 3 || got[0] != (Range{1, 2}) || got[1] != (Range{5, 6}) || got[2] != (Range{8, 8}) {
		t.Errorf("gaps %v", got)
	}
	if p, _ := db.PrevSequence(ctx, "ISPB", 7); p != 4 {
		t.Errorf("PrevSequence(7) = %d", p)
	}
}

func TestTimeFormats(t *testing.T) {
	syd, err := time.LoadLocation("Australia/Sydney")
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	kat, _ := time.LoadLocation("Asia/Kathmandu")
	for _, tm := range []time.Time{
		time.Date(2026, 6, 30, 18, 43, 35, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", -3*3600-1800)),
	} {
		if got, want := FormatTime(tm), tm.UTC().Format(TimeLayout); got != want {
			t.Errorf("FormatTime %s, want %s", got, want)
		}
		for _, loc := range []*time.Location{syd, ny, kat, time.UTC} {
			if got, want := FormatLocal(tm, loc), tm.In(loc).Format(LocalLayout); got != want {
				t.Errorf("FormatLocal %s, want %s", got, want)
			}
		}
	}
}

// TestMigrateV1 opens a database made by the first schema, with a row in
// it: the migration keeps every row, and the counters may then be NULL.
func TestMigrateV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roam.db")
	db, err := sql.Open("sqlite", path+"?"+pragmas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, db, migrations[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO raw (entry_id, status_type, session_id, session_time, delay_time, stop_time_gmt, create_date,
		record_status, event_stamped, input_octets, output_octets, input_packets, output_packets, batch_id, member_id, line)
		VALUES (1, 'Stop', 'S1', 60, 0, 't', 'c', 'loaded', 0, 7, 8, 9, 10, 1, 1, 2)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var sid string
	var in, pk int64
	var problem sql.NullString
	if err := d.SQL().QueryRow("SELECT session_id, input_octets, output_packets, problem FROM raw WHERE entry_id = 1").Scan(&sid, &in, &pk, &problem); err != nil {
		t.Fatal(err)
	}
	if sid != "S1" || in != 7 || pk != 10 || problem.Valid {
		t.Errorf("row after migration: %s %d %d %v", sid, in, pk, problem)
	}
	if _, err := d.SQL().Exec(`INSERT INTO raw_data (entry_id, status_type, session_time, delay_time, stop_time_gmt, create_date,
		record_status, event_stamped, input_octets, output_octets, input_packets, output_packets, batch_id, member_id, line, problem)
		VALUES (2, 'Stop', 60, 0, 't', 'c', 'loaded', 0, NULL, 8, 9, 10, 1, 1, 3, 'too large')`); err != nil {
		t.Errorf("a NULL counter after migration: %v", err)
	}
}

// A database at schema 5 gets, for each report, the rejected records its
// REJECTS files listed then (rejected, of its period, up to its
// rejects_upto) in report_rejects.
func TestMigrateV5RecordsRejects(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roam.db")
	db, err := sql.Open("sqlite", path+"?"+pragmas)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:5] {
		if err := apply(ctx, db, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO reports (report_id, period, revision, folder, created_at, sessions, exceptions, seconds, billed_seconds, provider,
		consumer, fees, tariffs_sha256, content_sha256, rejects_upto) VALUES
		(1, '2026-07', 1, '2026-07', 'c', 0, 0, 0, 0, 0, 0, 0, '', '', 5), (2, '2026-12', 1, '2026-12', 'c', 0, 0, 0, 0, 0, 0, 0, '', '', 9)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		id            int64
		stop, outcome string
	}{
		{1, "2026-07-01T00:00:00.000000000Z", "rejected"},  // 1: July's
		{2, "2026-07-31T23:59:59.999999999Z", "rejected"},  // 1: July's
		{3, "2026-08-01T00:00:00.000000000Z", "rejected"},  // August
		{4, "2026-07-10T00:00:00.000000000Z", "duplicate"}, // not rejected
		{5, "2026-06-30T23:59:59.999999999Z", "rejected"},  // June
		{6, "2026-07-10T00:00:00.000000000Z", "rejected"},  // after July's rejects_upto
		{7, "2026-12-31T12:00:00.000000000Z", "rejected"},  // 2: December's (the year turns)
		{8, "2027-01-01T00:00:00.000000000Z", "rejected"},  // January 2027
	} {
		if _, err := db.Exec(`INSERT INTO raw_data (entry_id, status_type, session_time, delay_time, stop_time_gmt, create_date,
			record_status, event_stamped, input_octets, output_octets, input_packets, output_packets, batch_id, member_id, line)
			VALUES (?, 'Stop', 60, 0, ?, 'c', 'loaded', 0, 0, 0, 0, 0, 1, 1, ?)`, r.id, r.stop, r.id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO raw_outcomes (entry_id, record_status, reason, run_id) VALUES (?, ?, 'R', 1)", r.id, r.outcome); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.SQL().Query("SELECT report_id, entry_id FROM report_rejects ORDER BY report_id, entry_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var rep, entry int64
		rows.Scan(&rep, &entry)
		got = append(got, fmt.Sprintf("%d:%d", rep, entry))
	}
	if strings.Join(got, " ") != "1:1 1:2 2:7" {
		t.Errorf("report_rejects after migration: %v, want 1:1 1:2 2:7", got)
	}
}
