package report

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// TestRevisions: a changed history is never published silently. The run
// refuses (exit 3, naming the session) until --revise, which writes
// rev-2 beside revision 1 (kept unchanged) with CHANGES.csv; then the
// period is quiet again.
func TestRevisions(t *testing.T) {
	w := newWorld(t, testTariffsCSV)
	s1 := sess{"ISPB", "alice@aimnet.com", utc("2026-10-06T00:00:00Z"), 300}
	s2 := sess{"ISPB", "carl@eunet.de", utc("2026-10-10T01:00:00Z"), 600}
	w.put(s1, s2)
	if _, logs, err := w.report("2026-10", false); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	rev1 := snapshot(t, w.path("2026-10"))

	// A late Stop: alice's session turns out longer (same key), and a
	// new session arrives.
	s1.dur = 900
	w.put(s1, sess{"ISPB", "dora@eunet.de", utc("2026-10-07T12:30:00Z"), 61})
	run, logs, err := w.report("2026-10", false)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(err.Error(), "2 session(s)") ||
		!strings.Contains(logs, "changed ISPB|nas1|20261006T000000Z") || !strings.Contains(logs, "added ISPB|nas1|20261007T123000Z") {
		t.Fatalf("want a refusal naming the sessions, got %v\n%s", err, logs)
	}
	if run.Count(countChanged) != 2 {
		t.Errorf("changed %d", run.Count(countChanged))
	}
	if got := snapshot(t, w.path("2026-10")); got != rev1 {
		t.Fatal("a refused run changed revision 1")
	}
	if _, logs, err := w.report("2026-10", true); err != nil {
		t.Fatalf("--revise: %v\n%s", err, logs)
	}
	changes, err := os.ReadFile(w.path("2026-10", "rev-2", OperatorDir, "CHANGES.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"changed,ISPB|nas1|20261006T000000Z|1006T000000-alice,ISPB,ISPA,alice@aimnet.com,300,300,0.13,0.23,0.02,900,900,0.38,0.68,0.04",
		"added,ISPB|nas1|20261007T123000Z|1007T123000-dora,ISPB,ISPC,dora@eunet.de,,,,,,61,90,0.02,0.05,0.01"} {
		if !strings.Contains(string(changes), want) {
			t.Errorf("CHANGES.csv lacks %q:\n%s", want, changes)
		}
	}
	if own, _ := os.ReadFile(w.path("2026-10", "rev-2", "ISPA", "CHANGES.csv")); !strings.Contains(string(own), "alice") || strings.Contains(string(own), "dora") {
		t.Errorf("ISPA's CHANGES.csv is not its own:\n%s", own)
	}
	if m, _ := os.ReadFile(w.path("2026-10", "rev-2", "ISPA", "MANIFEST")); !strings.Contains(string(m), " CHANGES.csv\n") || !strings.Contains(string(m), "revision 2\n") {
		t.Errorf("rev-2 MANIFEST:\n%s", m)
	}
	// Revision 1's files are as they were (rev-2 is a folder inside it).
	now := snapshot(t, w.path("2026-10"))
	for _, line := range strings.Split(rev1, "\n") {
		if !strings.Contains(now, line) {
			t.Fatalf("revision 1 changed: %q is gone", line)
		}
	}
	if _, logs, err := w.report("2026-10", false); err != nil || !strings.Contains(logs, "nothing to do") {
		t.Errorf("after the revision: %v\n%s", err, logs)
	}
}

// TestVerify: verify finds the reports identical to the history rated
// again, and names a single flipped byte in any file (the file and its
// first differing line) and a tampered charges row.
func TestVerify(t *testing.T) {
	w := newWorld(t, testTariffsCSV)
	w.put(goldenSessions[:len(goldenSessions)-1]...)
	w.report("2026-10", false)
	var out bytes.Buffer
	if err := Verify(context.Background(), w.s, &out, "2026-10", 0); err != nil || !strings.Contains(out.String(), "all 30 files are identical") {
		t.Fatalf("verify of an untouched period: %v\n%s", err, out.String())
	}
	for _, f := range []string{"ISPB/detail.csv", "ISPA/ISPA_2026-10_DT.txt", "ISPC/report.txt", "ISPA/statement.html", "operator/creditdebit.csv", "ISPB/MANIFEST"} {
		p := w.path("2026-10", f)
		orig, _ := os.ReadFile(p)
		flipped := append([]byte(nil), orig...)
		i := bytes.IndexByte(flipped[10:], '\n') + 20 // somewhere on the second line
		flipped[i] ^= 0x01
		os.WriteFile(p, flipped, 0o644)
		out.Reset()
		err := Verify(context.Background(), w.s, &out, "2026-10", 0)
		if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(out.String(), f+": line 2 differs") {
			t.Errorf("a flipped byte in %s: %v\n%s", f, err, out.String())
		}
		os.WriteFile(p, orig, 0o644)
	}
	db, err := store.Open(context.Background(), w.s.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec("UPDATE charges SET provider = provider + 1 WHERE user_name = 'dora@eunet.de' AND duration = 61"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out.Reset()
	err = Verify(context.Background(), w.s, &out, "2026-10", 0)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(out.String(), "charges: changed ISPB|nas1|20261007T123000Z") {
		t.Errorf("a tampered charges row: %v\n%s", err, out.String())
	}
}
