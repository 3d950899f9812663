package sim

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name  string
		attrs []attr
		typ   radius.Type
		want  string // the attribute's value bytes
		err   string
	}{
		{"quoted string with escapes", []attr{{"User-Name", `"EUNET\\user1"`}}, 1, `EUNET\user1`, ""},
		{"bare string", []attr{{"NAS-Identifier", "nas1"}}, 32, "nas1", ""},
		{"enum by name", []attr{{"Acct-Status-Type", "Interim-Update"}}, 40, "\x00\x00\x00\x03", ""},
		{"enum by number", []attr{{"Acct-Status-Type", "2"}}, 40, "\x00\x00\x00\x02", ""},
		{"integer", []attr{{"Acct-Session-Time", "300"}}, 46, "\x00\x00\x01\x2c", ""},
		{"ipv4", []attr{{"NAS-IP-Address", "192.0.2.1"}}, 4, "\xc0\x00\x02\x01", ""},
		{"ipv6", []attr{{"NAS-IPv6-Address", "2001:db8::1"}}, 95, "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01", ""},
		{"unknown attribute", []attr{{"Vendor-Thing", "1"}}, 0, "", "Vendor-Thing: not an attribute"},
		{"detail-only attribute", []attr{{"Timestamp", "1"}}, 0, "", "Timestamp: not an attribute"},
		{"unknown enum", []attr{{"Acct-Status-Type", "Sometimes"}}, 0, "", `unknown value "Sometimes"`},
		{"number too big", []attr{{"Acct-Session-Time", "4294967296"}}, 0, "", "no 32-bit number"},
		{"bad address", []attr{{"Framed-IP-Address", "10.0.0"}}, 0, "", "Framed-IP-Address"},
		{"unterminated quote", []attr{{"User-Name", `"abc`}}, 0, "", "unterminated"},
		{"ipv4-mapped into an ipv4 attribute", []attr{{"NAS-IP-Address", "::ffff:192.0.2.1"}}, 4, "\xc0\x00\x02\x01", ""},
		{"ipv6 in an ipv4 attribute", []attr{{"NAS-IP-Address", "2001:db8::1"}}, 0, "", "NAS-IP-Address: 2001:db8::1 is not an IPv4 address"},
		{"ipv4 in the ipv6 attribute", []attr{{"NAS-IPv6-Address", "192.0.2.1"}}, 0, "", "NAS-IPv6-Address: 192.0.2.1 is not an IPv6 address"},
		{"string longer than an attribute holds", []attr{{"User-Name", strings.Repeat("u", 254)}}, 0, "", "User-Name: 254 bytes"},
		{"packet longer than RADIUS allows", slices.Repeat([]attr{{"Calling-Station-Id", strings.Repeat("c", 250)}}, 17), 0, "", "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := encode(tc.attrs, []byte("s"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Get(tc.typ); string(got) != tc.want {
				t.Errorf("value %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadRequests(t *testing.T) {
	in := "Acct-Status-Type = Start\nUser-Name = \"a@b\"\n\n\nAcct-Status-Type = Stop\n"
	var got []string
	err := readRequests(strings.NewReader(in), func(a []attr, line int) error {
		got = append(got, a[len(a)-1].name+"@"+string(rune('0'+line)))
		return nil
	})
	if err != nil || strings.Join(got, " ") != "User-Name@2 Acct-Status-Type@5" {
		t.Errorf("%v %v", got, err)
	}
	if err := readRequests(strings.NewReader("garbage\n"), func([]attr, int) error { return nil }); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("garbage: %v", err)
	}
}

// udpServer answers Accounting-Requests on 127.0.0.1 with secret: handle
// says whether to answer the request (false: it is dropped, as a lost
// datagram or a wrong secret would be). It records nothing itself.
func udpServer(t *testing.T, secret string, handle func(*radius.Packet) bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, radius.MaxPacketLength)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			p, err := radius.Parse(buf[:n], []byte(secret))
			if err != nil || !handle(p) {
				continue
			}
			b, err := p.Response(radius.CodeAccountingResponse).Encode()
			if err == nil {
				pc.WriteTo(b, addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// A NAS sends a session's records in order, each after the last was
// answered: a Stop must never reach the server before its session's
// Start, whatever --parallel, or the listener closes a different session
// (and the demo's reports differ from run to run).
func TestSendKeepsEachSessionInOrder(t *testing.T) {
	var (
		mu      sync.Mutex
		seen    = map[string]bool{} // Starts dropped once already
		arrived = map[string][]string{}
	)
	addr := udpServer(t, "s", func(p *radius.Packet) bool {
		id, status := string(p.Get(44)), p.Get(40)
		mu.Lock()
		defer mu.Unlock()
		if status[3] == 1 && !seen[id] { // the first copy of each Start is lost
			seen[id] = true
			return false
		}
		if l := arrived[id]; len(l) == 0 || l[len(l)-1] != string(status) {
			arrived[id] = append(l, string(status))
		}
		return true
	})
	var in strings.Builder
	for i := range 8 {
		for _, st := range []string{"Start", "Interim-Update", "Stop"} {
			in.WriteString("Acct-Status-Type = " + st + "\nAcct-Session-Id = \"" + string(rune('a'+i)) + "\"\n\n")
		}
	}
	st, err := Send(context.Background(), strings.NewReader(in.String()), SendOptions{Addr: addr, Secret: []byte("s"), Parallel: 16, Retry: 50 * time.Millisecond})
	if err != nil || st.Sent != 24 || st.Answered != 24 {
		t.Fatalf("%+v %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, l := range arrived {
		if len(l) != 3 || l[0][3] != 1 || l[1][3] != 3 || l[2][3] != 2 {
			t.Errorf("session %s arrived as %q, want Start, Interim-Update, Stop", id, l)
		}
	}
}

// Requests reach the server in the input's order, as radclient's do: the
// listener's sessions depend on it (the demo's reports equal radclient's).
func TestSendKeepsTheInputsOrder(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	addr := udpServer(t, "s", func(p *radius.Packet) bool {
		mu.Lock()
		got = append(got, string(p.Get(44)))
		mu.Unlock()
		return true
	})
	var in strings.Builder
	var want []string
	for i := range 500 {
		id := strconv.Itoa(i)
		want = append(want, id)
		in.WriteString("Acct-Status-Type = Start\nAcct-Session-Id = \"" + id + "\"\n\n")
	}
	st, err := Send(context.Background(), strings.NewReader(in.String()), SendOptions{Addr: addr, Secret: []byte("s"), Parallel: 16})
	if err != nil || st.Answered != 500 {
		t.Fatalf("%+v %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("arrival order differs from the input's: %v", got)
	}
}

// A wrong secret (or a server that does not know this NAS) answers
// nothing: Send gives up after the first requests instead of waiting out
// every request's timeout (the demo's 5590 requests: half an hour).
func TestSendGivesUpWhenNothingIsAnswered(t *testing.T) {
	addr := udpServer(t, "other", func(*radius.Packet) bool { return true })
	in := strings.Repeat("Acct-Status-Type = Start\nAcct-Session-Id = \"x\"\n\n", 200)
	start := time.Now()
	st, err := Send(context.Background(), strings.NewReader(in), SendOptions{Addr: addr, Secret: []byte("s"), Parallel: 4, Timeout: 200 * time.Millisecond, Retry: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer") || !strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v, want one saying no answer came and why that may be", err)
	}
	if d := time.Since(start); d > time.Second || st.Answered != 0 {
		t.Errorf("gave up after %v (%+v), want after the first request's timeout", d, st)
	}
}
