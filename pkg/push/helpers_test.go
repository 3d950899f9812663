package push_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/sshdtest"
	"roamsettle/internal/testbin"
	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/push"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

// newRun makes an stage.Run logging to a buffer the test can read.
func newRun(t *testing.T) (*stage.Run, *testbin.Output) {
	t.Helper()
	logs := &testbin.Output{}
	return stage.NewText("roamcollect push", logs), logs
}

// writeReady puts n closed sessions in spool/ready/, each a realistic
// Start + Stop pair as the listener writes them, and returns the records.
func writeReady(t testing.TB, root string, n, from int) int {
	t.Helper()
	l := spool.Layout{Root: root}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	for i := from; i < from+n; i++ {
		recs := sessionRecords(i, base)
		p := filepath.Join(l.Ready(), spool.FileName(recs[0].NAS, recs[0].SessionID, recs[0].SessionStart()))
		if err := spool.Append(p, recs, false); err != nil {
			t.Fatal(err)
		}
	}
	return 2 * n
}

func sessionRecords(i int, base time.Time) []spool.Record {
	start := base.Add(time.Duration(i) * 7 * time.Second)
	dur := int64(60 + i%5000)
	nas := fmt.Sprintf("nas%d", i%4+1)
	sid := fmt.Sprintf("%08X", 0x4D2A0000+i)
	user := fmt.Sprintf("user%d@%s", i%997, []string{"aimnet.com", "connect.com.au", "Example.NET"}[i%3])
	common := spool.Record{
		Origin: "radius", NAS: nas, NASIP: fmt.Sprintf("192.0.2.%d", i%4+10), NASIdentifier: nas,
		Source: fmt.Sprintf("192.0.2.%d:1646", i%4+10), PacketID: i % 256, Authenticator: fmt.Sprintf("%032x", i*7919),
		SessionID: sid, UserName: user, TimeZone: "Australia/Sydney", LocalServer: "ISPB 203.0.113.5:1813",
		NASPort: fmt.Sprint(i % 48), NASPortType: "Virtual", CallingStation: fmt.Sprintf("+6141%07d", i), CalledStation: "0298765432",
		FramedIP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
	}
	startRec := common
	startRec.StatusType, startRec.EventTime, startRec.EventStamped = spool.Start, start, true
	startRec.Received = start.Add(120 * time.Millisecond)
	stop := common
	stop.StatusType, stop.SessionTime, stop.EventTime, stop.EventStamped = spool.Stop, dur, start.Add(time.Duration(dur)*time.Second), true
	stop.Received = stop.EventTime.Add(2 * time.Second)
	stop.DelayTime = 2
	stop.InputOctets, stop.OutputOctets = uint64(i)*1013+5<<32, uint64(i)*7919
	stop.InputPackets, stop.OutputPackets = uint64(i%9000), uint64(i%12000)
	stop.TerminateCause = "User-Request"
	return []spool.Record{startRec, stop}
}

// countRecords counts the records in every spool file under root's ready/
// and sent/, and the files in bad/: nothing may be lost between them.
func countRecords(t *testing.T, root string) (ready, sent, bad int) {
	t.Helper()
	l := spool.Layout{Root: root}
	count := func(dir string) int {
		n := 0
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, spool.FileExt) {
				return nil
			}
			recs, err := spool.ReadFile(p)
			if err != nil {
				t.Fatalf("read back %s: %v", p, err)
			}
			n += len(recs)
			return nil
		})
		return n
	}
	ents, _ := os.ReadDir(filepath.Join(root, push.BadDir))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), push.ReasonExt) {
			bad++
		}
	}
	return count(l.Ready()), count(l.Sent()), bad
}

// names lists a folder, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// checkCentral says the destination holds exactly the given batches, each
// whole and verified, and nothing else (no temporary leftovers either).
func checkCentral(t *testing.T, dir string, batches ...string) {
	t.Helper()
	var want []string
	for _, b := range batches {
		want = append(want, b+batch.DataExt, b+batch.ManifestExt)
	}
	sort.Strings(want)
	if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("destination holds %v, want exactly %v", got, want)
	}
	for _, b := range batches {
		if _, err := batch.Read(filepath.Join(dir, b+batch.ManifestExt), nil); err != nil {
			t.Fatalf("batch %s at the destination: %v", b, err)
		}
	}
}

// sftpEdge is an [edge] section pushing to a folder on the test sshd.
func sftpEdge(t *testing.T, s *sshdtest.Server) (*config.Edge, string) {
	t.Helper()
	inbound := filepath.Join(t.TempDir(), "inbound")
	if err := os.Mkdir(inbound, 0o755); err != nil {
		t.Fatal(err)
	}
	u := s.URL(inbound)
	return &config.Edge{ISP: "ISPB", Spool: filepath.Join(t.TempDir(), "spool"), StaleAfter: 6 * time.Hour,
		Push: u.String(), PushURL: u, KnownHosts: s.KnownHosts, Identity: s.ClientKey}, inbound
}

func fastOptions() push.Options {
	return push.Options{Attempts: 1, Backoff: 10 * time.Millisecond}
}

func pushNow(t *testing.T, edge *config.Edge, opt push.Options) (*stage.Run, *testbin.Output, error) {
	t.Helper()
	run, logs := newRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := push.PushWith(ctx, run, edge, opt)
	return run, logs, err
}
