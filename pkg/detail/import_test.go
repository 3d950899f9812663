package detail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

// testRun makes an stage.Run whose log goes to log.
func testRun(t *testing.T, log io.Writer) *stage.Run {
	t.Helper()
	return stage.NewText("roamcollect import", log)
}

// sessions writes n Start/Stop pairs as FreeRADIUS would, from session
// number from; each record's receipt time is unique.
func sessions(from, n int) string {
	var b strings.Builder
	const t0 = 1782845015
	for i := from; i < from+n; i++ {
		ts := t0 + int64(i)*10
		fmt.Fprintf(&b, "Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type = Start\n\tUser-Name = \"user%d@aimnet.com\"\n\tAcct-Session-Id = \"%08X\"\n\tNAS-IP-Address = 192.0.2.10\n\tEvent-Timestamp = %d\n\tTimestamp = %d\n\n", i, i, ts, ts)
		fmt.Fprintf(&b, "Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type = Stop\n\tUser-Name = \"user%d@aimnet.com\"\n\tAcct-Session-Id = \"%08X\"\n\tNAS-IP-Address = 192.0.2.10\n\tAcct-Session-Time = 300\n\tEvent-Timestamp = %d\n\tTimestamp = %d\n\n", i, i, ts+300, ts+301)
	}
	return b.String()
}

// snapshot is every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, dir)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// spoolRecords counts the records in open/ and ready/ by a key that does
// not depend on the file they were imported from.
func spoolRecords(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, sub := range []string{spool.OpenDir, spool.ReadyDir} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			recs, err := spool.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out[r.SessionID+" "+r.StatusType+" "+r.Received.String()]++
			}
		}
	}
	return out
}

type counts struct{ records, imported, skipped, malformed, incomplete int64 }

func runImport(t *testing.T, spoolDir string, files ...string) (counts, error, string) {
	t.Helper()
	var log bytes.Buffer
	run := testRun(t, &log)
	err := Import(context.Background(), run, testEdge(spoolDir), files)
	return counts{run.Count("records"), run.Count("imported"), run.Count("skipped_already_imported"),
		run.Count("malformed"), run.Count("incomplete")}, err, log.String()
}

func TestImportRerunAndRotation(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	live := filepath.Join(dir, "detail")

	// 1300 sessions (2600 records, so several chunks), one malformed
	// record, and a last record still being written.
	bad := "Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type = Start\n\tAcct-Session-Id = \"bad\"\n\tNAS-IP-Address = 192.0.2.99\n\tTimestamp = 1782845015\n\n"
	part1 := sessions(0, 700) + bad + sessions(700, 600)
	tail := sessions(1300, 1)
	cut := strings.Index(tail, "User-Name")
	if err := os.WriteFile(live, []byte(part1+tail[:cut]), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err, log := runImport(t, spoolDir, live)
	if stage.ExitCode(err) != stage.ExitAttention {
		t.Fatalf("first import: %v (exit %d), want exit 3", err, stage.ExitCode(err))
	}
	badLine := strings.Count(sessions(0, 700), "\n") + 1
	want := fmt.Sprintf("%s:%d: NAS-IP-Address: no [[edge.nas]] has address 192.0.2.99", live, badLine)
	if !strings.Contains(err.Error(), want) || !strings.Contains(log, want) {
		t.Errorf("error %q / log %q, want %q", err, log, want)
	}
	if c != (counts{records: 2601, imported: 2600, malformed: 1, incomplete: 1}) {
		t.Errorf("first import counts %+v", c)
	}
	recs := spoolRecords(t, spoolDir)
	if len(recs) != 2600 {
		t.Fatalf("spool has %d distinct records, want 2600", len(recs))
	}
	before := snapshot(t, spoolDir)

	// Again: nothing added, the spool unchanged byte for byte.
	c, err, _ = runImport(t, spoolDir, live)
	if err != nil {
		t.Fatalf("re-import: %v", err)
	}
	if c != (counts{skipped: 2601, incomplete: 1}) {
		t.Errorf("re-import counts %+v", c)
	}
	if after := snapshot(t, spoolDir); !maps.Equal(before, after) {
		t.Fatalf("re-import changed the spool")
	}

	// FreeRADIUS finishes the record and rotates the file; a new one
	// starts; someone also keeps a copy of the rotated file.
	f, err := os.OpenFile(live, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(tail[cut:] + sessions(1301, 10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rotated := filepath.Join(dir, "detail-20261122")
	if err := os.Rename(live, rotated); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(rotated)
	copied := filepath.Join(dir, "copy-of-detail")
	if err := os.WriteFile(copied, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(live, []byte(sessions(2000, 5)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err, _ = runImport(t, spoolDir, rotated, copied, live)
	if err != nil {
		t.Fatalf("import after rotation: %v", err)
	}
	if c != (counts{records: 22 + 10, imported: 32, skipped: 2601 + 2623}) {
		t.Errorf("counts after rotation %+v", c)
	}
	recs = spoolRecords(t, spoolDir)
	if len(recs) != 2600+32 {
		t.Errorf("spool has %d distinct records, want %d", len(recs), 2600+32)
	}
	for k, n := range recs {
		if n != 1 {
			t.Errorf("record %s is in the spool %d times", k, n)
		}
	}
	before = snapshot(t, spoolDir)
	if c, err, _ = runImport(t, spoolDir, rotated, copied, live); err != nil || c.imported != 0 {
		t.Fatalf("third run: %+v, %v", c, err)
	}
	if after := snapshot(t, spoolDir); !maps.Equal(before, after) {
		t.Fatalf("third run changed the spool")
	}
}

func TestImportRewrittenFile(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	file := filepath.Join(dir, "detail")
	data := sessions(0, 3)
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := runImport(t, spoolDir, file); err != nil {
		t.Fatal(err)
	}
	// Same first record, different content later: not silently skipped
	// nor re-imported.
	changed := strings.Replace(data, "user2@", "userX@", 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err, _ := runImport(t, spoolDir, file)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(err.Error(), "rewritten in place") || c.imported != 0 {
		t.Fatalf("rewritten file: %+v, %v", c, err)
	}
	// Cut short: likewise.
	if err := os.WriteFile(file, []byte(data[:len(data)-50]), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err, _ = runImport(t, spoolDir, file)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(err.Error(), "truncated or rewritten") {
		t.Fatalf("truncated file: %v", err)
	}
}

func TestImportMissingFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "detail")
	if err := os.WriteFile(good, []byte(sessions(0, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err, _ := runImport(t, filepath.Join(dir, "spool"), filepath.Join(dir, "nope"), good)
	if stage.ExitCode(err) != stage.ExitFailed || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v (exit %d), want exit 1", err, stage.ExitCode(err))
	}
	if c.imported != 2 {
		t.Errorf("the other file must still be imported: %+v", c)
	}
}

func TestImportState(t *testing.T) {
	dir := t.TempDir()
	s, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := Position{Offset: 10, Line: 3, Records: 1, File: "a file\nwith \"odd\" name"}
	p.Fingerprint[0], p.Anchor[31] = 1, 2
	s.Set(p)
	s.Set(Position{Fingerprint: p.Fingerprint, Offset: 5}) // never goes back
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	s2, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s2.Get(p.Fingerprint); !ok || got != p {
		t.Fatalf("state round trip: %+v", got)
	}
	for _, bad := range []string{"", "#other\n", StateHeader + "\nzz 1 1 1 zz \"f\"\n"} {
		if err := os.WriteFile(StatePath(dir), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), StatePath(dir)) {
			t.Errorf("state %q: error %v must name the file", bad, err)
		}
	}
}

// A crash after a chunk reached the spool but before the state recorded
// it re-imports that chunk: duplicates (which roamclean discards), never a
// lost record. Simulated by putting back the state from before the chunk.
func TestImportCrashBeforeState(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	file := filepath.Join(dir, "detail")
	if err := os.WriteFile(file, []byte(sessions(0, 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := runImport(t, spoolDir, file); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(StatePath(spoolDir))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(sessions(400, 250))
	f.Close()
	if c, err, _ := runImport(t, spoolDir, file); err != nil || c.imported != 500 {
		t.Fatalf("second import: %+v %v", c, err)
	}
	if err := os.WriteFile(StatePath(spoolDir), old, 0o644); err != nil { // the crash
		t.Fatal(err)
	}
	if c, err, _ := runImport(t, spoolDir, file); err != nil || c.imported != 500 || c.skipped != 800 {
		t.Fatalf("import after the crash: %+v %v", c, err)
	}
	recs := spoolRecords(t, spoolDir)
	if len(recs) != 1300 {
		t.Fatalf("%d distinct records, want 1300", len(recs))
	}
	twice := 0
	for _, n := range recs {
		if n == 2 {
			twice++
		}
	}
	if twice != 500 {
		t.Errorf("%d records twice, want the 500 of the lost chunk", twice)
	}
}

// Malformed records are logged within a quota: the first ten, then one
// line per interval saying how many were left out, and the number never
// logged at the end. Every one is counted.
func TestImportLogQuota(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "detail")
	bad := "Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type = Start\n\tAcct-Session-Id = \"bad\"\n\tNAS-IP-Address = 192.0.2.99\n\tTimestamp = 1782845015\n\n"
	if err := os.WriteFile(file, []byte(sessions(0, 5)+strings.Repeat(bad, 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err, log := runImport(t, filepath.Join(dir, "spool"), file)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.HasPrefix(err.Error(), "500 record(s) or file(s) need attention; first: "+file+":86: NAS-IP-Address") {
		t.Fatalf("error %v", err)
	}
	if c.malformed != 500 || c.imported != 10 {
		t.Errorf("counts %+v", c)
	}
	if n := strings.Count(log, `msg="set aside"`); n != logFirst {
		t.Errorf("%d malformed records logged, want the first %d:\n%s", n, logFirst, log)
	}
	if !strings.Contains(log, "490 more malformed records set aside, not logged") {
		t.Errorf("no count of the records not logged:\n%s", log)
	}
}

func TestLogQuota(t *testing.T) {
	var q logQuota
	t0 := time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
	for i := range logFirst {
		if held, ok := q.allow(t0); !ok || held != 0 {
			t.Fatalf("line %d: %d, %v; the first %d go through", i, held, ok, logFirst)
		}
	}
	for i := range 5 {
		if _, ok := q.allow(t0.Add(time.Duration(i) * time.Second / 2)); ok {
			t.Fatalf("line %d after the first ones went through within %v", i, logEvery)
		}
	}
	if held, ok := q.allow(t0.Add(logEvery)); !ok || held != 5 {
		t.Fatalf("after %v: %d, %v; want through, 5 held back", logEvery, held, ok)
	}
	if _, ok := q.allow(t0.Add(logEvery + time.Second)); ok || q.total != 6 {
		t.Fatalf("quota not applied again (total held %d)", q.total)
	}
}
