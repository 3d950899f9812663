package store

import (
	"context"
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

func TestValueError(t *testing.T) {
	var r Row
	err := r.Fill(&spool.Record{OutputPackets: 1 << 63}, Zones{})
	if ve, ok := err.(*ValueError); !ok || ve.Field != "output_packets" {
		t.Fatalf("got %v", err)
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
