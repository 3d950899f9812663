package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// newRun makes an stage.Run logging to a buffer the test can read.
func newRun(t *testing.T) (*stage.Run, *testbin.Output) {
	t.Helper()
	logs := &testbin.Output{}
	return stage.NewText("roamload", logs), logs
}

// central makes the central host's folders under a temp folder.
func central(t *testing.T) *config.Settlement {
	t.Helper()
	d := t.TempDir()
	s := &config.Settlement{Inbound: filepath.Join(d, "inbound"), Archive: filepath.Join(d, "archive"),
		Quarantine: filepath.Join(d, "quarantine"), DB: filepath.Join(d, "db", "roam.db")}
	if err := os.MkdirAll(s.Inbound, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// result is what one Load did.
type result struct {
	err    error
	counts map[string]int64
	logs   string
}

func load(t *testing.T, s *config.Settlement, opts Options) result {
	t.Helper()
	run, logs := newRun(t)
	err := Load(context.Background(), run, s, opts)
	r := result{err: err, counts: map[string]int64{}, logs: logs.String()}
	for _, c := range []string{countBatches, countLoaded, countCopies, countQuarantined, countRecords, countProblems, countGaps, countSkipped, countStuck} {
		r.counts[c] = run.Count(c)
	}
	return r
}

// sessionRecords is session i: a Start and a Stop with the fields a NAS
// sends.
func sessionRecords(i int, base time.Time) []spool.Record {
	start := base.Add(time.Duration(i) * 7 * time.Second)
	dur := int64(60 + i)
	nas := fmt.Sprintf("nas%d", i%2+1)
	common := spool.Record{
		Origin: "radius", NAS: nas, NASIP: fmt.Sprintf("192.0.2.%d", i%2+10), NASIdentifier: nas,
		Source: fmt.Sprintf("192.0.2.%d:1646", i%2+10), PacketID: i % 256, Authenticator: fmt.Sprintf("%032x", i*7919),
		SessionID: fmt.Sprintf("%08X", 0x4D2A0000+i), UserName: []string{"user1@aimnet.com", `CONNECT\bob`, "carol%Example.NET", "nobody"}[i%4],
		TimeZone: "Australia/Sydney", LocalServer: "ISPB 203.0.113.5:1813",
		NASPort: fmt.Sprint(i % 48), NASPortType: "Virtual", CallingStation: fmt.Sprintf("+6141%07d", i), CalledStation: "0298765432",
		FramedIP: fmt.Sprintf("10.0.0.%d", i%250+1),
	}
	a := common
	a.StatusType, a.EventTime, a.EventStamped = spool.Start, start, true
	a.Received = start.Add(120 * time.Millisecond)
	b := common
	b.StatusType, b.SessionTime, b.EventTime = spool.Stop, dur, start.Add(time.Duration(dur)*time.Second)
	b.Received = b.EventTime.Add(2*time.Second + 500*time.Microsecond)
	b.DelayTime = 2
	b.InputOctets, b.OutputOctets = uint64(i)*1013+5<<32, uint64(i)*7919
	b.InputPackets, b.OutputPackets = uint64(i%9000), uint64(i%12000)
	b.TerminateCause = "User-Request"
	b.Class = "6f70656e"
	return []spool.Record{a, b}
}

var base = time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)

// makeBatch writes batch seq of sender into dir from n sessions starting
// at session from, via spool files and batch.Create, and returns the
// batch's base name.
func makeBatch(t *testing.T, dir, sender string, seq uint64, from, n int) string {
	t.Helper()
	sp := t.TempDir()
	var recs [][]spool.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, sessionRecords(i, base))
	}
	return makeBatchOf(t, dir, sp, sender, seq, recs)
}

func makeBatchOf(t *testing.T, dir, sp, sender string, seq uint64, files [][]spool.Record) string {
	t.Helper()
	w, err := batch.Create(dir, sender, seq, time.Date(2026, 7, 1, 2, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, recs := range files {
		name := "empty.sess"
		if len(recs) > 0 {
			name = spool.FileName(recs[0].NAS, recs[0].SessionID, recs[0].SessionStart())
		}
		p := filepath.Join(sp, name)
		if err := spool.Append(p, recs, false); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return batch.Name(sender, seq)
}

func openDB(t *testing.T, s *config.Settlement) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), s.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, s *config.Settlement, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := openDB(t, s).SQL().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// files lists a folder's names, sorted; "" for a missing folder.
func files(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
