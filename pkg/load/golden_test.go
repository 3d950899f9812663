package load

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/spool"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// dump prints the rows of a query, one "column=value" per line, NULL as
// NULL, so a golden file shows exactly what an auditor's query returns.
func dump(t *testing.T, db *sql.DB, w *bytes.Buffer, title, q string) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	fmt.Fprintf(w, "## %s\n", title)
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			v := "NULL"
			if vals[i].Valid {
				v = fmt.Sprintf("%q", vals[i].String)
			}
			fmt.Fprintf(w, "%s=%s\n", c, v)
		}
		w.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/load -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/load -run %s -update, then review the diff):\n%s", path, t.Name(), got)
	}
}

func TestRawRowsGolden(t *testing.T) {
	s := central(t)
	files := [][]spool.Record{sessionRecords(0, base), sessionRecords(1, base), sessionRecords(2, base)}
	// A record of a NAS without a configured zone, and an Accounting-On:
	// no user, no session.
	noZone := sessionRecords(3, base)[:1]
	noZone[0].TimeZone = ""
	noZone[0].EventStamped = false
	on := spool.Record{StatusType: spool.AccountingOn, NAS: "nas1", EventTime: base.Add(time.Hour), Received: base.Add(time.Hour),
		Origin: "detail /var/log/radacct/192.0.2.10/detail-20260630:42", PacketID: -1}
	files = append(files, noZone, []spool.Record{on})
	makeBatchOf(t, s.Inbound, t.TempDir(), "ISPB", 1, files)
	if r := load(t, s, Options{}); r.err != nil || r.counts[countRecords] != 8 {
		t.Fatalf("%v %v\n%s", r.err, r.counts, r.logs)
	}
	db := openDB(t, s).SQL()
	var out bytes.Buffer
	dump(t, db, &out, "batches", `SELECT batch_id, sender, sequence, manifest_file, manifest_sha256, data_file, data_size,
		data_sha256, files, records, session_time_sum, first_event, last_event, created, first_entry_id, last_entry_id
		FROM batches ORDER BY batch_id`)
	dump(t, db, &out, "members", "SELECT * FROM members ORDER BY member_id")
	dump(t, db, &out, "raw", "SELECT * FROM raw ORDER BY entry_id")
	golden(t, "raw.golden", out.Bytes())
}

// TestLoadFromSpoolStore loads a batch made the way the edge makes it:
// spool files written by spool.Store, bundled by batch.Create.
func TestLoadFromSpoolStore(t *testing.T) {
	s := central(t)
	root := t.TempDir()
	st, err := spool.OpenStore(spool.Layout{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var want int
	for i := 0; i < 20; i++ {
		recs := sessionRecords(i, base)
		interim := recs[1]
		interim.StatusType, interim.TerminateCause = spool.Interim, ""
		interim.SessionTime /= 2
		interim.EventTime = recs[0].EventTime.Add(time.Duration(interim.SessionTime) * time.Second)
		for _, r := range []spool.Record{recs[0], interim, recs[1]} {
			if err := st.Add([]spool.Record{r}); err != nil {
				t.Fatal(err)
			}
			want++
		}
	}
	ready, err := filepath.Glob(filepath.Join(root, spool.ReadyDir, "*"))
	if err != nil || len(ready) != 20 {
		t.Fatalf("ready/ holds %d files (%v)", len(ready), err)
	}
	w, err := batch.Create(s.Inbound, "ISPB", 1, base.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ready {
		if _, err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if r := load(t, s, Options{}); r.err != nil || r.counts[countRecords] != int64(want) {
		t.Fatalf("%v %v\n%s", r.err, r.counts, r.logs)
	}
	// Every spool record is in raw at its file and line.
	db := openDB(t, s).SQL()
	for _, p := range ready {
		recs, err := spool.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, rec := range recs {
			var sid, status, stop string
			err := db.QueryRow(`SELECT r.session_id, r.status_type, r.stop_time_gmt FROM raw r JOIN members m USING (member_id)
				WHERE m.name = ? AND r.line = ?`, filepath.Base(p), i+2).Scan(&sid, &status, &stop)
			if err != nil {
				t.Fatalf("%s line %d: %v", filepath.Base(p), i+2, err)
			}
			if sid != rec.SessionID || status != rec.StatusType || stop != rec.EventTime.UTC().Format("2006-01-02T15:04:05.000000000Z") {
				t.Errorf("%s line %d: row %s %s %s, spool %s %s %s", filepath.Base(p), i+2, sid, status, stop, rec.SessionID, rec.StatusType, rec.EventTime)
			}
		}
	}
}

func TestStatus(t *testing.T) {
	s := central(t)
	makeBatch(t, s.Inbound, "ISPB", 1, 0, 2)
	makeBatch(t, s.Inbound, "ISPB", 4, 2, 2)
	makeBatch(t, s.Inbound, "ISPB", 5, 4, 2)
	makeBatch(t, s.Inbound, "ISPA", 2, 6, 1)
	editFile(t, filepath.Join(s.Inbound, "ISPB-0000000005.manifest"), "\nrecords 4\n", "\nrecords 3\n")
	load(t, s, Options{})
	makeBatch(t, s.Inbound, "ISPB", 6, 9, 1) // waiting
	makeBatch(t, s.Inbound, "ISPC", 1, 9, 1) // a sender seen only in inbound/

	var js bytes.Buffer
	if err := Status(context.Background(), s, &js, true); err != nil {
		t.Fatal(err)
	}
	var rep StatusReport
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	type line struct {
		sender           string
		last, n, records int64
		gaps             string
		quarantined      string
		waiting          string
	}
	var got []line
	for _, st := range rep.Senders {
		var q []string
		for _, x := range st.Quarantined {
			q = append(q, x.Slot+":"+strings.Join(x.Files, ","))
			if !strings.Contains(x.Reason, "records 4, manifest says 3") {
				t.Errorf("quarantine reason %q", x.Reason)
			}
		}
		got = append(got, line{st.Sender, int64(st.LastSequence), st.Batches, st.Records, gapText(st.Gaps), strings.Join(q, " "), strings.Join(st.Waiting, " ")})
	}
	want := []line{
		{"ISPA", 2, 1, 2, "1", "", ""},
		{"ISPB", 4, 2, 8, "2-3", "ISPB-0000000005:ISPB-0000000005.manifest,ISPB-0000000005.reason,ISPB-0000000005.tar", "ISPB-0000000006"},
		{"ISPC", 0, 0, 0, "-", "", "ISPC-0000000001"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status\n got %v\nwant %v\n%s", got, want, js.String())
	}
	var text bytes.Buffer
	if err := Status(context.Background(), s, &text, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SENDER", "ISPB    4", "2-3", "quarantined ISPB-0000000005 (", "records 4, manifest says 3"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("status text does not show %q:\n%s", want, text.String())
		}
	}
}

func TestStatusWithoutDatabase(t *testing.T) {
	s := central(t)
	var out bytes.Buffer
	if err := Status(context.Background(), s, &out, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.DB); err == nil {
		t.Error("status created the database")
	}
	if !strings.Contains(out.String(), "no batches") {
		t.Errorf("status: %q", out.String())
	}
}

// TestStatusShowsWhatWaitsInInbound: files the loader does not take — a
// tar whose manifest has not arrived, a batch numbered 0, an abandoned
// upload, a stray file — are listed with their kind and age.
func TestStatusShowsWhatWaitsInInbound(t *testing.T) {
	s := central(t)
	dir := t.TempDir()
	makeBatch(t, dir, "ISPB", 3, 0, 1)
	copyFile(t, filepath.Join(dir, "ISPB-0000000003.tar"), filepath.Join(s.Inbound, "ISPB-0000000003.tar"))
	copyFile(t, filepath.Join(dir, "ISPB-0000000003.manifest"), filepath.Join(s.Inbound, "ISPB-0000000000.manifest"))
	os.WriteFile(filepath.Join(s.Inbound, ".ISPB-0000000004.tar.part"), []byte("par"), 0o644)
	os.WriteFile(filepath.Join(s.Inbound, "notes.txt"), []byte("hi"), 0o644)
	old := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	os.Chtimes(filepath.Join(s.Inbound, "ISPB-0000000003.tar"), old, old)

	var js bytes.Buffer
	if err := Status(context.Background(), s, &js, true); err != nil {
		t.Fatal(err)
	}
	var rep StatusReport
	if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Inbound {
		got = append(got, f.Name+" "+f.Kind)
	}
	want := ".ISPB-0000000004.tar.part upload|ISPB-0000000000.manifest foreign|ISPB-0000000003.tar incomplete|notes.txt foreign"
	if strings.Join(got, "|") != want {
		t.Errorf("inbound:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if rep.Inbound[2].Since != "2026-11-30T01:02:03Z" {
		t.Errorf("since %q", rep.Inbound[2].Since)
	}
	var text bytes.Buffer
	if err := Status(context.Background(), s, &text, false); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"INBOUND", "ISPB-0000000003.tar", "incomplete", "2026-11-30T01:02:03Z", "a tar without its manifest", "sequence from 1"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("status text lacks %q:\n%s", w, text.String())
		}
	}
}
