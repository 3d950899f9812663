package hostile

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"roamsettle/internal/testbin"
)

// nasClient plays a NAS: it sends its Accounting-Requests and sends
// every unanswered one again, byte for byte, from the same socket (a
// retransmission: same source, Identifier and authenticator), until each
// is answered.
type nasClient struct {
	socks    []*net.UDPConn
	packets  [][][]byte // per socket, indexed by Identifier
	mu       sync.Mutex
	answered map[[2]int]bool
}

// newNASClient makes sessions Start+Stop pairs with fixed event times,
// 256 requests per socket (one Identifier each, so answers match).
func newNASClient(t *testing.T, to string, sessions int) *nasClient {
	return newNASClientFrom(t, to, 0, sessions)
}

// newNASClientFrom is newNASClient for sessions first, first+1, ...
func newNASClientFrom(t *testing.T, to string, first, sessions int) *nasClient {
	t.Helper()
	c := &nasClient{answered: map[[2]int]bool{}}
	raddr, _ := net.ResolveUDPAddr("udp", to)
	var reqs [][]byte
	for i := first; i < first+sessions; i++ {
		start := t0.Add(time.Duration(i) * time.Minute)
		for _, st := range []rfc2866.AcctStatusType{rfc2866.AcctStatusType_Value_Start, rfc2866.AcctStatusType_Value_Stop} {
			p := radius.New(radius.CodeAccountingRequest, []byte(secret))
			p.Identifier = byte(len(reqs) % 256)
			rfc2866.AcctStatusType_Set(p, st)
			rfc2866.AcctSessionID_SetString(p, fmt.Sprintf("L%05d", i))
			rfc2865.UserName_SetString(p, fmt.Sprintf("u%d@%s", i%50, []string{"aimnet.com", "eunet.fi"}[i%2]))
			ev := start
			if st == rfc2866.AcctStatusType_Value_Stop {
				dur := 60 + (i*37)%7200
				rfc2866.AcctSessionTime_Set(p, rfc2866.AcctSessionTime(dur))
				ev = start.Add(time.Duration(dur) * time.Second)
			}
			rfc2869.EventTimestamp_Set(p, ev)
			b, err := p.Encode()
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, b)
		}
	}
	for k := 0; k*256 < len(reqs); k++ {
		s, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c.socks = append(c.socks, s)
		c.packets = append(c.packets, reqs[k*256:min(len(reqs), (k+1)*256)])
	}
	return c
}

func (c *nasClient) total() int {
	n := 0
	for _, p := range c.packets {
		n += len(p)
	}
	return n
}

func (c *nasClient) done() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.answered)
}

// run sends and resends until everything is answered or stop closes.
func (c *nasClient) run(stop <-chan struct{}) {
	var wg sync.WaitGroup
	for k, s := range c.socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				select {
				case <-stop:
					return
				default:
				}
				pending := 0
				for id, b := range c.packets[k] {
					c.mu.Lock()
					a := c.answered[[2]int{k, id}]
					c.mu.Unlock()
					if !a {
						s.Write(b)
						pending++
						if pending%2 == 0 {
							time.Sleep(time.Millisecond) // a NAS's pace, not a flood
						}
					}
				}
				if pending == 0 {
					return
				}
				end := time.Now().Add(300 * time.Millisecond)
				for time.Now().Before(end) {
					s.SetReadDeadline(end)
					n, err := s.Read(buf)
					if err != nil {
						break
					}
					if n >= 20 && buf[0] == byte(radius.CodeAccountingResponse) && int(buf[1]) < len(c.packets[k]) &&
						radius.IsAuthenticResponse(buf[:n], c.packets[k][buf[1]], []byte(secret)) {
						c.mu.Lock()
						c.answered[[2]int{k, int(buf[1])}] = true
						c.mu.Unlock()
						if pending--; pending == 0 {
							break
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

// treeFiles maps every file under dir (relative name) to its SHA-256.
// What may differ after a crash without anything being lost or doubled is
// left out: a REJECTS file's lineage columns (which copy of a record an
// import re-read after its crash window, docs/import.md, is the one
// rejected and which the DUPLICATE) and that file's line in MANIFEST.
func treeFiles(dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		b = withoutLineage(p, b)
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	return out
}

func withoutLineage(path string, b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	switch {
	case strings.HasSuffix(path, "_REJECTS.csv"):
		recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil {
			return b
		}
		var rows []string
		for _, r := range recs {
			if len(r) > 5 {
				rows = append(rows, strings.Join(append([]string{r[0]}, r[5:]...), "\x00"))
			}
		}
		sort.Strings(rows)
		return []byte(strings.Join(rows, "\n"))
	case filepath.Base(path) == "MANIFEST":
		var keep []string
		for _, l := range lines {
			if !strings.HasSuffix(l, "_REJECTS.csv") {
				keep = append(keep, l)
			}
		}
		return []byte(strings.Join(keep, "\n"))
	}
	return b
}

// firstDiff is the first line where two files differ, for the log.
func firstDiff(a, b string) string {
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	xl, yl := strings.Split(string(x), "\n"), strings.Split(string(y), "\n")
	for i := 0; i < max(len(xl), len(yl)); i++ {
		var p, q string
		if i < len(xl) {
			p = xl[i]
		}
		if i < len(yl) {
			q = yl[i]
		}
		if p != q {
			return fmt.Sprintf("line %d: got %q, want %q (%d and %d lines)", i+1, p, q, len(xl), len(yl))
		}
	}
	return ""
}

func diffTrees(t *testing.T, what, gotDir, wantDir string) {
	got, want := treeFiles(gotDir), treeFiles(wantDir)
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if got[n] != want[n] {
			t.Errorf("%s: %s differs from the run without kills: %s", what, n, firstDiff(filepath.Join(gotDir, n), filepath.Join(wantDir, n)))
		}
	}
}

// stage is one step of the pipeline.
type stage struct {
	name string
	args []string
}

// TestKillEveryStage: every stage is killed with SIGKILL at random
// moments (seeded; the seed, the delays and where each kill landed are
// logged), then run again to its end. The result is compared with the
// same input through a pipeline never killed: the same sessions, each
// once; every batch loaded once; the same report and published files.
func TestKillEveryStage(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HOSTILE_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (HOSTILE_SEED=%d repeats this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	const sessions, radiusSessions, kills = 1500, 500, 3

	stages := []stage{
		{"import", []string{"roamcollect", "import", "detail"}},
		{"listen", nil},
		{"sweep", []string{"roamcollect", "sweep"}},
		{"push", []string{"roamcollect", "push"}},
		{"load", []string{"roamload"}},
		{"clean", []string{"roamclean"}},
		{"report", []string{"roamreport", "--period", "2026-06"}},
		{"publish", []string{"roamreport", "publish", "--period", "2026-06"}},
	}
	args := func(e *env, st stage) []string {
		a := append([]string(nil), st.args...)
		for i := range a {
			if a[i] == "detail" {
				a[i] = e.path("detail")
			}
		}
		return a
	}

	for _, name := range []string{"roamcollect", "roamload", "roamclean", "roamreport", "roamsim"} {
		testbin.Command(t, name) // built before anything is timed
	}
	base := newEnv(t)
	base.detail("detail", 41, sessions)
	took := map[string]time.Duration{}
	for _, st := range stages {
		start := time.Now()
		if st.name == "listen" {
			took[st.name] = base.listenAll(t, radiusSessions, nil)
			continue
		} else {
			a := args(base, st)
			base.must(ok03, a[0], a[1:]...)
		}
		took[st.name] = time.Since(start)
	}
	wantSessions, nsess := base.sessionsDigest()
	t.Logf("baseline: %d sessions; stage times %v", nsess, took)

	e := newEnv(t)
	e.write("detail", string(mustRead(t, base.path("detail"))))
	for _, st := range stages {
		for i := 0; i < kills; i++ {
			// Within the stage's own time in the baseline, so kills land
			// anywhere in the run; a run that ends first ends the kills.
			delay := time.Duration(rng.Int64N(int64(took[st.name]) + 1))
			if st.name == "listen" {
				if e.nas != nil && e.nas.done() == e.nas.total() {
					break
				}
				e.listenAll(t, radiusSessions, &delay)
				t.Logf("%s: killed after %v", st.name, delay.Round(time.Millisecond))
				continue
			}
			a := args(e, st)
			out := &testbin.Output{}
			cmd := e.command(a[0], out, a[1:]...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Logf("%s: killed after %v", st.name, delay.Round(time.Microsecond))
			} else {
				t.Logf("%s: finished (exit %d) before the kill at %v", st.name, cmd.ProcessState.ExitCode(), delay.Round(time.Microsecond))
				break
			}
		}
		if st.name == "listen" {
			e.listenAll(t, radiusSessions, nil)
			continue
		}
		a := args(e, st)
		e.must(ok03, a[0], a[1:]...)
	}

	// Exactly once: the same sessions; every loaded batch's records once.
	if got, n := e.sessionsDigest(); got != wantSessions {
		t.Errorf("sessions differ from the run without kills: %d sessions, want %d", n, nsess)
	}
	var manifests int64
	for _, n := range e.files("central/archive") {
		if strings.Contains(n, "~") {
			t.Errorf("archive holds a second copy: %s", n)
		}
		if strings.HasSuffix(n, ".manifest") {
			manifests += manifestRecords(t, e.path("central/archive/"+n))
		}
	}
	if n := e.count("SELECT count(*) FROM raw"); n != manifests {
		t.Errorf("raw holds %d records, the archived batches %d", n, manifests)
	}
	if n := e.count("SELECT count(*) FROM (SELECT batch_id, member_id, line FROM raw GROUP BY 1, 2, 3 HAVING count(*) > 1)"); n != 0 {
		t.Errorf("%d raw lines loaded twice", n)
	}
	if q := e.files("central/quarantine"); len(q) > 0 {
		t.Errorf("quarantined: %v", q)
	}
	// Nothing left behind half-way: every folder a stage empties is empty,
	// and the edge kept one copy of what it sent.
	for _, dir := range []string{"central/inbound", "spool/ready", "spool/outgoing", "spool/bad", "spool/journal"} {
		if f := e.files(dir); len(f) > 0 {
			t.Errorf("%s holds %v", dir, f)
		}
	}
	if got, want := e.files("spool/sent"), base.files("spool/sent"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("spool/sent holds %v, the run without kills %v", got, want)
	}
	if n := e.count("SELECT count(*) FROM reports"); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
	e.must([]int{0}, "roamreport", "verify", "--period", "2026-06")
	diffTrees(t, "reports", e.path("central/reports"), base.path("central/reports"))
	diffTrees(t, "published", e.path("publish"), base.path("publish"))
}

// listenAll runs the listener while a NAS client sends radiusSessions
// sessions. With kill, the listener is SIGKILLed after *kill and the
// client keeps what was answered (the next listener gets the rest as
// retransmissions); without, it runs until every request is answered,
// then stops with SIGTERM.
//
// It returns how long the client took to get every answer.
func (e *env) listenAll(t *testing.T, radiusSessions int, kill *time.Duration) time.Duration {
	t.Helper()
	if e.nas == nil {
		e.nas = newNASClient(t, e.listen, radiusSessions)
	}
	l := e.startListener()
	stop := make(chan struct{})
	done := make(chan struct{})
	start := time.Now()
	go func() { e.nas.run(stop); close(done) }()
	if kill != nil {
		time.Sleep(*kill)
		syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		l.cmd.Wait()
		close(stop)
		<-done
		t.Logf("listen: %d of %d requests answered so far", e.nas.done(), e.nas.total())
		return 0
	}
	var took time.Duration
	select {
	case <-done:
		took = time.Since(start)
	case <-time.After(20 * time.Second):
		close(stop)
		<-done
		t.Fatalf("only %d of %d requests answered\n%s", e.nas.done(), e.nas.total(), l.out)
	}
	if code := l.stop(t); code != 0 {
		t.Fatalf("listener exit %d\n%s", code, l.out)
	}
	return took
}
