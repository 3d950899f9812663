package acct

// Tests of the real `roamcollect listen` binary, driven by the real
// radclient (freeradius-utils) and by Go clients on 127.0.0.1.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/spool"
)

type edgeHost struct {
	dir, cfg, spool string
	addr            netip.AddrPort
}

// newEdgeHost writes a throwaway roam.toml whose only NAS is nasAddr.
func newEdgeHost(t *testing.T, nasAddr string) *edgeHost {
	t.Helper()
	dir := t.TempDir()
	port := testbin.FreeUDPPort(t)
	h := &edgeHost{dir: dir, cfg: filepath.Join(dir, "roam.toml"), spool: filepath.Join(dir, "spool"),
		addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}
	toml := fmt.Sprintf(`[edge]
isp = "ISPB"
spool = "spool"
listen = "127.0.0.1:%d"
timezone = "Australia/Sydney"

[[edge.nas]]
name = "nas1"
address = %q
secret = %q
`, port, nasAddr, testSecret)
	if err := os.WriteFile(h.cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

type proc struct {
	cmd    *exec.Cmd
	stderr *testbin.Output
	done   chan error
}

// start runs `roamcollect listen` and waits until it listens.
func (h *edgeHost) start(t *testing.T) *proc {
	t.Helper()
	bin := testbin.Command(t, "roamcollect")
	p := &proc{cmd: exec.Command(bin, "--config", h.cfg, "listen"), stderr: &testbin.Output{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("roamcollect stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "listening for RADIUS accounting") {
		select {
		case err := <-p.done:
			t.Fatalf("roamcollect exited before listening: %v\n%s", err, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("roamcollect did not start:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		t.Fatal("roamcollect did not stop on SIGTERM")
		return -1
	}
}

// radclient sends one request from attribute lines; true when answered.
// A request expected to be dropped is sent once with a 1 s timeout; one
// expected to be answered may be retransmitted (a slow, loaded host).
func radclient(t *testing.T, h *edgeHost, secret string, expectAnswer bool, attrs ...string) bool {
	t.Helper()
	bin := testbin.Require(t, "radclient")
	args := []string{"-t", "1", "-r", "1"}
	if expectAnswer {
		args = []string{"-t", "2", "-r", "3"}
	}
	cmd := exec.Command(bin, append(args, h.addr.String(), "acct", secret)...)
	cmd.Stdin = strings.NewReader(strings.Join(attrs, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("radclient: %v\n%s", err, out)
	}
	return err == nil
}

func TestListenRadclient(t *testing.T) {
	testbin.Require(t, "radclient")
	h := newEdgeHost(t, "127.0.0.1")
	p := h.start(t)

	steps := []struct {
		name  string
		attrs []string
	}{
		{"Accounting-On", []string{"Acct-Status-Type = Accounting-On", "NAS-IP-Address = 127.0.0.1"}},
		{"Start", []string{"Acct-Status-Type = Start", `Acct-Session-Id = "rc1"`, `User-Name = "user1@aimnet.com"`, "NAS-Port-Type = Ethernet"}},
		{"Interim-Update", []string{"Acct-Status-Type = Interim-Update", `Acct-Session-Id = "rc1"`, `User-Name = "user1@aimnet.com"`, "Acct-Session-Time = 60", "Acct-Input-Octets = 10", "Acct-Input-Gigawords = 1"}},
		{"Stop", []string{"Acct-Status-Type = Stop", `Acct-Session-Id = "rc1"`, `User-Name = "user1@aimnet.com"`, "Acct-Session-Time = 120", "Acct-Delay-Time = 2", "Acct-Terminate-Cause = User-Request"}},
	}
	for _, s := range steps {
		if !radclient(t, h, testSecret, true, s.attrs...) {
			t.Fatalf("%s: no Accounting-Response", s.name)
		}
	}

	// An identical retransmission: the same bytes twice from one socket.
	c := client(t, "127.0.0.1")
	req := acctRequest(testSecret, rfc2866.AcctStatusType_Value_Start, "dup1")
	rfc2865.UserName_AddString(req, "user2@aimnet.com")
	b := encode(t, req)
	if got := answers(t, c, h.addr, 2, answerWait, b, b); len(got) != 2 {
		t.Fatalf("duplicate: %d answers, want 2", len(got))
	}

	// A wrong shared secret gets no answer and writes nothing.
	if radclient(t, h, "not-the-secret", false, "Acct-Status-Type = Start", `Acct-Session-Id = "bad1"`) {
		t.Fatal("answered a request with a wrong secret")
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	l := spool.Layout{Root: h.spool}
	ready := readDir(t, l.Ready())
	open := readDir(t, l.Open())
	if len(ready) != 2 { // the Accounting-On and session rc1
		t.Fatalf("ready/: %v, want one file per closed session", ready)
	}
	if len(open) != 1 || !strings.Contains(open[0], "dup1") {
		t.Fatalf("open/: %v, want dup1 only", open)
	}
	byStatus := map[string]int{}
	for _, r := range spoolRecords(t, h.spool) {
		byStatus[r.SessionID+" "+r.StatusType]++
		if r.Origin != "radius" || r.NAS != "nas1" || r.LocalServer != "ISPB "+h.addr.String() || r.TimeZone != "Australia/Sydney" || r.Authenticator == "" {
			t.Errorf("record fields: %+v", r)
		}
		if r.StatusType == spool.Interim && r.InputOctets != 1<<32+10 {
			t.Errorf("gigawords: %d", r.InputOctets)
		}
		if r.StatusType == spool.Stop && (r.TerminateCause != "User-Request" || r.DelayTime != 2 || !r.EventTime.Equal(r.Received.Add(-2*time.Second))) {
			t.Errorf("stop: %+v", r)
		}
	}
	want := map[string]int{" Accounting-On": 1, "rc1 Start": 1, "rc1 Interim-Update": 1, "rc1 Stop": 1, "dup1 Start": 1}
	if fmt.Sprint(byStatus) != fmt.Sprint(want) {
		t.Fatalf("records %v, want %v", byStatus, want)
	}
	summary := p.stderr.String()
	for _, s := range []string{"dropped_bad_authenticator 1", "written 5", "status=done"} {
		if !strings.Contains(summary, s) {
			t.Errorf("summary lacks %q:\n%s", s, summary)
		}
	}
	// At least the crafted duplicate; radclient may retransmit on a slow host.
	if strings.Contains(summary, " retransmissions 0,") {
		t.Errorf("summary counts no retransmission:\n%s", summary)
	}
}

func TestListenUnknownClient(t *testing.T) {
	testbin.Require(t, "radclient")
	h := newEdgeHost(t, "127.0.0.2") // radclient sends from 127.0.0.1
	p := h.start(t)
	if radclient(t, h, testSecret, false, "Acct-Status-Type = Start", `Acct-Session-Id = "u1"`) {
		t.Fatal("answered an unknown client")
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if recs := spoolRecords(t, h.spool); len(recs) != 0 {
		t.Fatalf("%d records from an unknown client", len(recs))
	}
	if !strings.Contains(p.stderr.String(), "dropped_unknown_client 1") {
		t.Fatalf("summary:\n%s", p.stderr.String())
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// acked is one request that got its Accounting-Response.
type acked struct {
	conn *net.UDPConn
	b    []byte
	key  string // session id + status
}

// load sends Start then Stop of fresh sessions from workers sockets until
// ctx ends, retransmitting the same bytes until answered, and returns
// the requests that were answered; acks counts them as they come.
func load(ctx context.Context, t *testing.T, to netip.AddrPort, workers int, prefix string, acks *atomic.Int64) []acked {
	var (
		mu  sync.Mutex
		out []acked
		wg  sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		c := client(t, "127.0.0.1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := 0; ctx.Err() == nil; i++ {
				sid := fmt.Sprintf("%s-w%d-%d", prefix, w, i)
				for _, st := range []rfc2866.AcctStatusType{rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_Stop} {
					p := acctRequest(testSecret, st, sid)
					rfc2865.UserName_AddString(p, "load@aimnet.com")
					if st == rfc2866.AcctStatusType_Value_Stop {
						rfc2866.AcctSessionTime_Add(p, 1)
					}
					b, err := p.Encode()
					if err != nil {
						panic(err)
					}
					answered := false
					for try := 0; try < 4 && !answered && ctx.Err() == nil; try++ {
						c.WriteToUDPAddrPort(b, to)
						c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
						n, err := c.Read(buf)
						answered = err == nil && radius.IsAuthenticResponse(buf[:n], b, []byte(testSecret))
					}
					if !answered {
						break
					}
					mu.Lock()
					out = append(out, acked{conn: c, b: b, key: sid + " " + rfc2866.AcctStatusType(st).String()})
					mu.Unlock()
					acks.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// waitAcks waits until n requests of a load were answered: the listener
// is then busy, with requests in flight, whatever the host's speed.
func waitAcks(t *testing.T, acks *atomic.Int64, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); acks.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests answered in 30s", acks.Load(), n)
		}
	}
}

// count indexes the spool's records by session id + status.
func count(t *testing.T, root string) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, r := range spoolRecords(t, root) {
		m[r.SessionID+" "+r.StatusType]++
	}
	return m
}

// TestListenCrash kills the listener with SIGKILL under concurrent load:
// every request that was answered must be in the spool after a restart,
// exactly once even when the NAS sends it again.
func TestListenCrash(t *testing.T) {
	h := newEdgeHost(t, "127.0.0.1")
	p := h.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	var got []acked
	var acks atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = load(ctx, t, h.addr, 16, "crash", &acks)
	}()
	waitAcks(t, &acks, 1000)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	cancel()
	<-done
	if len(got) < 1000 {
		t.Fatalf("only %d requests answered before the kill", len(got))
	}

	p = h.start(t) // recovers the journal
	recs := count(t, h.spool)
	for _, a := range got {
		if recs[a.key] != 1 {
			t.Fatalf("acknowledged %q is in the spool %d times (of %d acknowledged)", a.key, recs[a.key], len(got))
		}
	}
	// The NAS did not see some answers and sends again: answered, not rewritten.
	buf := make([]byte, 4096)
	for i, a := range got {
		if i%10 != 0 {
			continue
		}
		a.conn.WriteToUDPAddrPort(a.b, h.addr)
		a.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := a.conn.Read(buf)
		if err != nil || !radius.IsAuthenticResponse(buf[:n], a.b, []byte(testSecret)) {
			t.Fatalf("retransmission of %q after restart not answered: %v", a.key, err)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	recs = count(t, h.spool)
	for _, a := range got {
		if recs[a.key] != 1 {
			t.Fatalf("after retransmissions %q is in the spool %d times", a.key, recs[a.key])
		}
	}
	t.Logf("%d requests acknowledged before SIGKILL, all in the spool once", len(got))
}

// TestListenSIGTERM stops the listener under load: it exits 0, and every
// answered request is in the spool, closed sessions in ready/.
func TestListenSIGTERM(t *testing.T) {
	h := newEdgeHost(t, "127.0.0.1")
	p := h.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	var got []acked
	var acks atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = load(ctx, t, h.addr, 8, "term", &acks)
	}()
	waitAcks(t, &acks, 500)
	code := p.stop(t)
	cancel()
	<-done
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	recs := count(t, h.spool)
	for _, a := range got {
		if recs[a.key] != 1 {
			t.Fatalf("acknowledged %q is in the spool %d times", a.key, recs[a.key])
		}
	}
	if segs := readDir(t, spool.Layout{Root: h.spool}.Journal()); len(segs) != 0 {
		t.Fatalf("journal not emptied by a clean stop: %v", segs)
	}
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "summary:") {
			t.Log(sc.Text())
		}
	}
}

// A single-valued attribute given twice with different values (the realm
// of User-Name, or a Stop hidden behind a Start) is dropped unanswered as
// malformed; the same value twice is one value.
func TestListenDuplicateAttributes(t *testing.T) {
	testbin.Require(t, "radclient")
	h := newEdgeHost(t, "127.0.0.1")
	p := h.start(t)
	// Both at once: each radclient waits its one second for no answer.
	refused := [][]string{
		{"Acct-Status-Type = Start", `Acct-Session-Id = "d1"`, `User-Name = "user1@aimnet.com"`, `User-Name = "user1"`},
		{"Acct-Status-Type = Start", "Acct-Status-Type = Stop", `Acct-Session-Id = "d2"`, `User-Name = "user1@aimnet.com"`},
	}
	answered := make([]bool, len(refused))
	var wg sync.WaitGroup
	for i, attrs := range refused {
		wg.Go(func() { answered[i] = radclient(t, h, testSecret, false, attrs...) })
	}
	wg.Wait()
	for i, a := range answered {
		if a {
			t.Errorf("answered %q", refused[i])
		}
	}
	if !radclient(t, h, testSecret, true, "Acct-Status-Type = Start", `Acct-Session-Id = "d3"`,
		`User-Name = "user1@aimnet.com"`, `User-Name = "user1@aimnet.com"`) {
		t.Fatal("the same User-Name twice: not answered")
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if recs := count(t, h.spool); len(recs) != 1 || recs["d3 Start"] != 1 {
		t.Fatalf("records %v, want d3's Start only", recs)
	}
	out := p.stderr.String()
	for _, want := range []string{"dropped_malformed 2,", "written 1,", "given twice with different values"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
