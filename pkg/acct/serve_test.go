package acct

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"roamsettle/pkg/config"
	"roamsettle/pkg/spool"
)

const testSecret = "s3cret"

func testEdge(t testing.TB, nas ...config.NAS) *config.Edge {
	if len(nas) == 0 {
		nas = []config.NAS{{Name: "nas1", Address: netip.MustParseAddr("127.0.0.1"), Secret: []byte(testSecret)}}
	}
	return &config.Edge{ISP: "ISPB", Spool: t.TempDir(), Listen: "127.0.0.1:0", StaleAfter: 6 * time.Hour,
		SweepEvery: time.Minute, Timezone: "Australia/Sydney", NAS: nas}
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// startServer runs the listener in-process on a free loopback port; stop
// ends it like SIGTERM does and returns its error.
func startServer(t *testing.T, edge *config.Edge) (*server, netip.AddrPort, func() error) {
	t.Helper()
	s, err := listen(edge, slog.New(slog.NewTextHandler(testLogWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	stop := serveInBackground(s)
	t.Cleanup(func() { stop() })
	return s, s.conn.LocalAddr().(*net.UDPAddr).AddrPort(), stop
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serveInBackground runs s; stop ends it like SIGTERM and returns its error.
func serveInBackground(s *server) func() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx) }()
	var once sync.Once
	var serr error
	return func() error {
		once.Do(func() {
			cancel()
			serr = <-done
		})
		return serr
	}
}

// client is a NAS socket on a loopback address.
func client(t *testing.T, from string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from+":0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func encode(t testing.TB, p *radius.Packet) []byte {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func acctRequest(secret string, st rfc2866.AcctStatusType, session string) *radius.Packet {
	p := radius.New(radius.CodeAccountingRequest, []byte(secret))
	rfc2866.AcctStatusType_Add(p, st)
	if session != "" {
		rfc2866.AcctSessionID_AddString(p, session)
	}
	return p
}

// answers sends the datagrams and collects answers until want of them
// arrived or wait passed. A test expecting answers goes on as soon as
// they are there, so its wait can be generous for a loaded host; one
// expecting none (want 0) waits the whole time, to see a wrong one.
func answers(t *testing.T, c *net.UDPConn, to netip.AddrPort, want int, wait time.Duration, sends ...[]byte) [][]byte {
	t.Helper()
	for _, b := range sends {
		if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
	}
	var out [][]byte
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(wait))
	for want == 0 || len(out) < want {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	return out
}

// answerWait bounds the wait for answers that are expected: they come in
// milliseconds, so it only matters on a host too loaded to keep up.
const answerWait = 5 * time.Second

// spoolRecords reads every record in open/ and ready/.
func spoolRecords(t *testing.T, root string) []spool.Record {
	t.Helper()
	l := spool.Layout{Root: root}
	var out []spool.Record
	for _, dir := range []string{l.Open(), l.Ready()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			recs, err := spool.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatalf("%s: %v", e.Name(), err)
			}
			out = append(out, recs...)
		}
	}
	return out
}

func TestRetransmissionAnsweredWrittenOnce(t *testing.T) {
	edge := testEdge(t)
	s, addr, stop := startServer(t, edge)
	c := client(t, "127.0.0.1")
	req := encode(t, acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "dup1"))
	// Two copies at once (the second arrives while the first is pending),
	// then a third after the first is durable.
	got := answers(t, c, addr, 2, answerWait, req, req)
	got = append(got, answers(t, c, addr, 1, answerWait, req)...)
	if len(got) != 3 {
		t.Fatalf("%d answers, want 3", len(got))
	}
	for _, a := range got {
		if radius.Code(a[0]) != radius.CodeAccountingResponse || !radius.IsAuthenticResponse(a, req, []byte(testSecret)) {
			t.Fatalf("not an authentic Accounting-Response: % x", a)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if recs := spoolRecords(t, edge.Spool); len(recs) != 1 {
		t.Fatalf("%d records written, want 1", len(recs))
	}
	if s.n.received.Load() != 3 || s.n.written.Load() != 1 || s.n.retransmissions.Load() != 2 || s.n.answered.Load() != 3 {
		t.Fatalf("counts: received %d written %d retransmissions %d answered %d", s.n.received.Load(),
			s.n.written.Load(), s.n.retransmissions.Load(), s.n.answered.Load())
	}
}

func TestDroppedPacketsAreNeitherAnsweredNorWritten(t *testing.T) {
	edge := testEdge(t)
	s, addr, stop := startServer(t, edge)
	known, unknown := client(t, "127.0.0.1"), client(t, "127.0.0.3")
	good := encode(t, acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "a"))
	badAuth := encode(t, acctRequest("wrong", rfc2866.AcctStatusType_Value_Start, "a"))
	access := encode(t, radius.New(radius.CodeAccessRequest, []byte(testSecret)))
	noSession := encode(t, acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, ""))
	badLen := append([]byte(nil), good...)
	badLen[3] += 10 // Length beyond the datagram
	if got := answers(t, unknown, addr, 0, 300*time.Millisecond, good); len(got) != 0 {
		t.Fatal("unknown client answered")
	}
	if got := answers(t, known, addr, 0, 300*time.Millisecond, badAuth, access, noSession, badLen, good[:15]); len(got) != 0 {
		t.Fatalf("%d bad packets answered", len(got))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if recs := spoolRecords(t, edge.Spool); len(recs) != 0 {
		t.Fatalf("%d records written", len(recs))
	}
	for name, c := range map[string]int64{
		"unknown client": s.n.unknownClient.Load(), "bad authenticator": s.n.badAuth.Load(),
		"not accounting": s.n.notAccounting.Load(), "malformed": s.n.malformed.Load(),
	} {
		want := int64(1)
		if name == "malformed" {
			want = 3
		}
		if c != want {
			t.Errorf("%s: %d, want %d", name, c, want)
		}
	}
}

// When the spool becomes unusable (here open/ turns into a file: the
// checkpoint fails, and so does reopening), requests get no answer; once
// it is repaired the spool is reopened, the journal recovered, and every
// request is in it exactly once.
func TestSpoolFailureLeavesRequestsUnanswered(t *testing.T) {
	edge := testEdge(t)
	s, addr, stop := startServer(t, edge)
	c := client(t, "127.0.0.1")
	req := func(id string) []byte {
		return encode(t, acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, id))
	}
	req1, req2, req3 := req("w1"), req("w2"), req("w3")
	if got := answers(t, c, addr, 1, answerWait, req1); len(got) != 1 {
		t.Fatalf("%d answers", len(got))
	}
	open := spool.Layout{Root: edge.Spool}.Open()
	if err := os.Rename(open, open+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(open, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// req2 is durable in the journal and may be answered before a
	// checkpoint notices; the one after req2's fails for sure.
	answers(t, c, addr, 1, 500*time.Millisecond, req2)
	for deadline := time.Now().Add(10 * time.Second); s.n.checkpointFailed.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the checkpoint did not fail")
		}
	}
	if got := answers(t, c, addr, 0, 500*time.Millisecond, req3); len(got) != 0 {
		t.Fatal("answered a request while the spool cannot be opened")
	}
	if got := answers(t, c, addr, 0, 500*time.Millisecond, req3); len(got) != 0 {
		t.Fatal("answered a retransmission while the spool cannot be opened")
	}
	os.Remove(open)
	if err := os.Rename(open+".away", open); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]byte{req3, req1, req2} {
		if got := answers(t, c, addr, 1, answerWait, r); len(got) != 1 {
			t.Fatalf("%d answers once the spool works, want 1", len(got))
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	byID := map[string]int{}
	for _, r := range spoolRecords(t, edge.Spool) {
		byID[r.SessionID]++
	}
	if byID["w1"] != 1 || byID["w2"] != 1 || byID["w3"] != 1 || len(byID) != 3 {
		t.Fatalf("records by session: %v, want w1, w2 and w3 once", byID)
	}
	if s.n.writeFailed.Load() < 2 || s.n.spoolReopened.Load() != 1 {
		t.Fatalf("write failures %d, reopened %d", s.n.writeFailed.Load(), s.n.spoolReopened.Load())
	}
}

// Accounting-On closes the NAS's sessions; Stop closes its own; both are
// in ready/ once the listener stops (its last checkpoint).
func TestSessionsClose(t *testing.T) {
	edge := testEdge(t)
	s, addr, stop := startServer(t, edge)
	c := client(t, "127.0.0.1")
	for _, p := range []*radius.Packet{
		acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "a"),
		acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "b"),
		acctRequest(testSecret, rfc2866.AcctStatusType_Value_Stop, "a"),
		acctRequest(testSecret, rfc2866.AcctStatusType_Value_AccountingOn, ""),
		acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "c"),
	} {
		if got := answers(t, c, addr, 1, answerWait, encode(t, p)); len(got) != 1 {
			t.Fatalf("%d answers", len(got))
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	l := spool.Layout{Root: edge.Spool}
	ready, _ := os.ReadDir(l.Ready())
	open, _ := os.ReadDir(l.Open())
	if len(ready) != 3 || len(open) != 1 { // a, b, the Accounting-On; c open
		t.Fatalf("ready/ %d files, open/ %d", len(ready), len(open))
	}
	if s.n.sessionsClosed.Load() != 2 {
		t.Fatalf("sessions closed %d, want 2", s.n.sessionsClosed.Load())
	}
}

// On a dual-stack socket IPv4 NASes arrive as IPv4-mapped IPv6 addresses:
// still the configured NAS, recorded as IPv4.
func TestMappedSourceAddress(t *testing.T) {
	s := newServer(testEdge(t), discardLog(), &recorder{})
	b := encode(t, acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "m1"))
	r := s.receive(b, netip.MustParseAddrPort("[::ffff:127.0.0.1]:4000"), time.Now())
	if r == nil {
		t.Fatal("an IPv4-mapped source of a configured NAS was dropped")
	}
	if r.rec.Source != "127.0.0.1:4000" || r.rec.NAS != "nas1" {
		t.Fatalf("source %q nas %q", r.rec.Source, r.rec.NAS)
	}
}

// A scan from thousands of source addresses gives a few log lines, not
// one per source: the log limiter has a budget across sources, and the
// line after the budget's interval says how many it left out.
func TestScanFromManySourcesIsRateLimited(t *testing.T) {
	var log bytes.Buffer
	s := newServer(testEdge(t), slog.New(slog.NewTextHandler(&log, nil)), &recorder{})
	b := encode(t, acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "scan"))
	now := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	const sources = 5000
	for i := range sources {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1813)
		if s.receive(b, src, now.Add(time.Duration(i)*time.Millisecond)) != nil {
			t.Fatal("an unknown client was accepted")
		}
	}
	if got := s.n.unknownClient.Load(); got != sources {
		t.Fatalf("dropped_unknown_client %d, want %d", got, sources)
	}
	lines := strings.Count(log.String(), "\n")
	t.Logf("%d sources in %v: %d log lines", sources, sources*time.Millisecond, lines)
	if lines > logBudget+1 {
		t.Fatalf("%d log lines for a scan from %d sources, want at most %d:\n%.2000s", lines, sources, logBudget+1, log.String())
	}
	if !strings.Contains(log.String(), "further drops are counted, not logged") {
		t.Errorf("no line says the budget is spent:\n%s", log.String())
	}
	// The first drop after the interval says how many were left out.
	log.Reset()
	s.receive(b, netip.MustParseAddrPort("10.255.0.1:1813"), now.Add(sources*time.Millisecond+logEvery))
	want := fmt.Sprintf("suppressed_other_sources=%d", sources-logBudget)
	if !strings.Contains(log.String(), want) {
		t.Errorf("line after the interval lacks %s:\n%s", want, log.String())
	}
}
