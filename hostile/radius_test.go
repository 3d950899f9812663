package hostile

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/spool"
)

// t0 is the event time of the test's packets.
var t0 = time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)

// acctPacket is an Accounting-Request, a Stop of session sid (so its
// session goes to ready/ at once), signed with sec.
func acctPacket(t *testing.T, id byte, sid string, user []byte, sec string) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccountingRequest, []byte(sec))
	p.Identifier = id
	rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Stop)
	rfc2866.AcctSessionID_SetString(p, sid)
	rfc2866.AcctSessionTime_Set(p, 600)
	rfc2865.UserName_Set(p, user)
	rfc2869.EventTimestamp_Set(p, t0)
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign sets the Request Authenticator of raw accounting bytes (RFC 2866
// §3: MD5 over the packet with 16 zero octets there, then the secret),
// over the octets the Length field covers when it fits the datagram.
func sign(b []byte, sec string) []byte {
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n > len(b) || n < 20 {
		n = len(b)
	}
	h := md5.New()
	h.Write(b[:4])
	h.Write(make([]byte, 16))
	h.Write(b[20:n])
	h.Write([]byte(sec))
	copy(b[4:20], h.Sum(nil))
	return b
}

// listener is a running roamcollect listen.
type listener struct {
	cmd *exec.Cmd
	out *testbin.Output
}

func (e *env) startListener() *listener {
	e.t.Helper()
	l := &listener{out: &testbin.Output{}}
	l.cmd = e.command("roamcollect", l.out, "listen")
	if err := l.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { l.cmd.Process.Kill(); l.cmd.Wait() })
	if !waitFor(10*time.Second, func() bool { return strings.Contains(l.out.String(), "listening for RADIUS accounting") }) {
		e.t.Fatalf("the listener did not start:\n%s", l.out)
	}
	return l
}

// stop sends SIGTERM and returns the exit code.
func (l *listener) stop(t *testing.T) int {
	t.Helper()
	l.cmd.Process.Signal(syscall.SIGTERM)
	l.cmd.Wait()
	return l.cmd.ProcessState.ExitCode()
}

// exchange sends b from address from to the listener and reports whether
// an Accounting-Response came back within wait.
func exchange(t *testing.T, from, to string, b []byte, wait time.Duration) bool {
	t.Helper()
	raddr, _ := net.ResolveUDPAddr("udp", to)
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	return err == nil && n >= 20 && buf[0] == byte(radius.CodeAccountingResponse) && buf[1] == b[1]
}

// TestPackets: the listener meets hostile datagrams. Each is dropped (not
// written, not answered) with a log line naming its source, NAS and what
// was wrong, and counted; a good request from the same NAS right after it
// is answered and written once; the listener starts again afterwards.
func TestPackets(t *testing.T) {
	good := func(t *testing.T, id byte, sid string) []byte {
		return acctPacket(t, id, sid, []byte("user1@aimnet.com"), secret)
	}
	cases := []struct {
		name   string
		packet func(t *testing.T) []byte
		from   string // source address; "" for the case's own NAS
		answer bool   // accepted (and answered)
		log    string // pattern of the listener's line about it
		count  string // summary count it adds to
	}{
		{"wrong authenticator (wrong secret)", func(t *testing.T) []byte {
			return acctPacket(t, 1, "bad-auth", []byte("user1@aimnet.com"), "not-the-secret")
		}, "", false, `bad Request Authenticator \(wrong shared secret\?\)`, "dropped_bad_authenticator"},
		{"authenticator with a flipped bit", func(t *testing.T) []byte {
			b := good(t, 2, "flipped-auth")
			b[10] ^= 1
			return b
		}, "", false, `bad Request Authenticator`, "dropped_bad_authenticator"},
		{"truncated attribute (its length runs past the packet)", func(t *testing.T) []byte {
			b := good(t, 3, "truncated-attr")
			b = append(b, byte(rfc2865.ReplyMessage_Type), 40, 'x', 'y') // says 40 octets, has 2
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
			return sign(b, secret)
		}, "", false, `malformed: .*attribute`, "dropped_malformed"},
		{"attribute of length 1", func(t *testing.T) []byte {
			b := good(t, 4, "short-attr")
			b = append(b, byte(rfc2865.ReplyMessage_Type), 1)
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
			return sign(b, secret)
		}, "", false, `malformed: .*attribute`, "dropped_malformed"},
		{"Length field larger than the datagram", func(t *testing.T) []byte {
			b := good(t, 5, "long-length")
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)+60))
			return b
		}, "", false, `malformed: bad Length field.*length=\d+ bytes=\d+`, "dropped_malformed"},
		{"Length field below the header", func(t *testing.T) []byte {
			b := good(t, 6, "tiny-length")
			binary.BigEndian.PutUint16(b[2:4], 12)
			return b
		}, "", false, `malformed: bad Length field.*length=12`, "dropped_malformed"},
		{"Length field cutting an attribute in two", func(t *testing.T) []byte {
			b := good(t, 7, "cut-length")
			binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-3))
			return sign(b, secret) // authentic over what Length covers
		}, "", false, `malformed: `, "dropped_malformed"},
		{"datagram shorter than a header", func(t *testing.T) []byte {
			return []byte{4, 9, 0, 20, 1, 2}
		}, "", false, `malformed: shorter than a RADIUS header`, "dropped_malformed"},
		{"integer attribute of the wrong size", func(t *testing.T) []byte {
			p := radius.New(radius.CodeAccountingRequest, []byte(secret))
			p.Identifier = 8
			rfc2866.AcctStatusType_Set(p, rfc2866.AcctStatusType_Value_Stop)
			rfc2866.AcctSessionID_SetString(p, "short-int")
			rfc2865.UserName_SetString(p, "user1@aimnet.com")
			p.Add(rfc2866.AcctSessionTime_Type, radius.Attribute{0, 7})
			b, _ := p.Encode()
			return b
		}, "", false, `Acct-Session-Time`, "dropped_malformed"},
		{"Access-Request on the accounting port", func(t *testing.T) []byte {
			p := radius.New(radius.CodeAccessRequest, []byte(secret))
			p.Identifier = 9
			rfc2865.UserName_SetString(p, "user1@aimnet.com")
			rfc2865.UserPassword_SetString(p, "pw")
			b, _ := p.Encode()
			return b
		}, "", false, `not an Accounting-Request.*code=Access-Request`, "dropped_not_accounting"},
		{"unknown client", func(t *testing.T) []byte {
			return good(t, 10, "unknown-client")
		}, "127.0.0.99", false, `unknown client.*source=127\.0\.0\.99`, "dropped_unknown_client"},
		{"control characters and invalid UTF-8 in User-Name", func(t *testing.T) []byte {
			return acctPacket(t, 11, "odd-user", []byte("us\x01er\n\t\x7f\xff\xfe\"x@aimnet.com"), secret)
		}, "", true, "", ""},
	}
	// One listener per case: its log budget (10 drop lines a minute from
	// all sources) is then the case's own, and every case starts the
	// listener again on the spool the cases before it left.
	e := newEnv(t)
	wantRecords := map[string][]byte{} // session id -> user name
	for i, tc := range cases {
		from := tc.from
		if from == "" {
			from = fmt.Sprintf("127.0.0.%d", 10+i)
		}
		t.Run(tc.name, func(t *testing.T) {
			l := e.startListener()
			b := tc.packet(t)
			wait := 250 * time.Millisecond
			if tc.answer {
				wait = 5 * time.Second
			}
			if got := exchange(t, from, e.listen, b, wait); got != tc.answer {
				t.Fatalf("answered: %v, want %v\n%s", got, tc.answer, l.out)
			}
			if tc.answer {
				p, _ := radius.Parse(b, []byte(secret))
				wantRecords[rfc2866.AcctSessionID_GetString(p)] = rfc2865.UserName_Get(p)
			}
			if tc.log != "" {
				// One line says what was wrong and names the packet
				// (source, port, Identifier) and its NAS.
				who := `source=` + regexp.QuoteMeta(from) + ` port=\d+`
				if len(b) >= 2 {
					who += fmt.Sprintf(` id=%d `, b[1])
				}
				if tc.from == "" {
					who += fmt.Sprintf(`.*nas=h%d\b`, i)
				}
				what, whom := regexp.MustCompile(`msg="dropped packet, not answered: .*`+tc.log), regexp.MustCompile(who)
				var seen string
				if !waitFor(2*time.Second, func() bool {
					for _, line := range strings.Split(l.out.String(), "\n") {
						if what.MatchString(line) && whom.MatchString(line) {
							seen = line[strings.Index(line, "msg="):]
							return true
						}
					}
					return false
				}) {
					t.Errorf("no line matching %q and %q:\n%s", what, whom, l.out)
				}
				t.Logf("logged: %s", seen)
			}
			if tc.from == "" {
				// The same NAS goes on: its next good request is answered.
				sid := fmt.Sprintf("good-%02d", i)
				if !exchange(t, from, e.listen, good(t, byte(100+i), sid), 5*time.Second) {
					t.Fatalf("the good request after it was not answered\n%s", l.out)
				}
				wantRecords[sid] = []byte("user1@aimnet.com")
			}
			if code := l.stop(t); code != 0 {
				t.Errorf("listener exit %d\n%s", code, l.out)
			}
			if tc.count != "" {
				wantMatch(t, "the summary", l.out.String(), fmt.Sprintf(`summary: .*\b%s 1\b`, tc.count))
			}
			written := 1
			if tc.from != "" {
				written = 0
			} else if tc.answer {
				written = 2
			}
			wantMatch(t, "the summary", l.out.String(), fmt.Sprintf(`summary: .*\bwritten %d\b`, written))
		})
	}

	// The spool holds every answered request once, byte for byte, and
	// nothing of the dropped ones.
	got := map[string]int{}
	files, _ := filepath.Glob(e.path("spool/ready/*.sess"))
	for _, f := range files {
		recs, err := spool.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range recs {
			got[r.SessionID]++
			if want, ok := wantRecords[r.SessionID]; !ok {
				t.Errorf("written but never answered: %q", r.SessionID)
			} else if r.UserName != string(want) {
				t.Errorf("%s: user name %q, want %q", r.SessionID, r.UserName, want)
			}
		}
	}
	for sid := range wantRecords {
		if got[sid] != 1 {
			t.Errorf("session %s written %d times, want 1", sid, got[sid])
		}
	}

	// The listener still starts and answers.
	l2 := e.startListener()
	if !exchange(t, "127.0.0.1", e.listen, good(t, 200, "after-restart"), 5*time.Second) {
		t.Errorf("restarted listener did not answer\n%s", l2.out)
	}
	if code := l2.stop(t); code != 0 {
		t.Errorf("restarted listener exit %d\n%s", code, l2.out)
	}
}

// TestOddUserName: control characters and bytes that are not UTF-8 in a
// User-Name are no error: the session is billable, so every stage keeps
// the bytes exactly (the spool escapes them, the raw row and the session
// hold them), and every report file stays one line per row ('?' for a
// control byte, docs/report.md).
func TestOddUserName(t *testing.T) {
	e := newEnv(t)
	l := e.startListener()
	odd := []byte("us\x01er\n\t\x7f\xff\xfe\"x,y@aimnet.com")
	for i, u := range [][]byte{odd, []byte("plain@aimnet.com")} {
		if !exchange(t, "127.0.0.1", e.listen, acctPacket(t, byte(i), fmt.Sprintf("s%d", i), u, secret), 5*time.Second) {
			t.Fatalf("not answered\n%s", l.out)
		}
	}
	if code := l.stop(t); code != 0 {
		t.Fatalf("listener exit %d\n%s", code, l.out)
	}
	e.must([]int{0}, "roamcollect", "push")
	e.must([]int{0}, "roamload")
	e.must([]int{0}, "roamclean")
	e.must([]int{0}, "roamreport", "--period", "2026-06")
	e.must([]int{0}, "roamreport", "verify", "--period", "2026-06")
	var raw, user string
	if err := e.db().QueryRow("SELECT r.user_name || '@' || coalesce(r.user_domain, ''), s.user_name FROM raw r JOIN sessions s ON s.session_key = r.session_key WHERE r.session_id = 's0'").Scan(&raw, &user); err != nil {
		t.Fatal(err)
	}
	if raw != string(odd) {
		t.Errorf("raw user_name %q, want %q", raw, odd)
	}
	t.Logf("session user %q", user)
	if n := e.count("SELECT count(*) FROM sessions"); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	for _, f := range []string{"ISPA/ISPA_2026-06_DT.txt", "ISPB/ISPB_2026-06_DT.txt"} {
		b, err := os.ReadFile(e.path("central/reports/2026-06/" + f))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != 2 {
			t.Errorf("%s: %d lines, want 2:\n%q", f, n, b)
		}
	}
	b, _ := os.ReadFile(e.path("central/reports/2026-06/ISPA/detail.csv"))
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) < 3 {
		t.Errorf("ISPA/detail.csv: %v, %d rows:\n%q", err, len(recs), b)
	}
}
