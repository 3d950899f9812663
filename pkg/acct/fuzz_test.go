package acct

import (
	"crypto/md5"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"

	"roamsettle/pkg/detail"
	"roamsettle/pkg/radattr"
	"roamsettle/pkg/spool"
)

// recorder is the fuzz target's socket: it keeps what would be sent.
type recorder struct{ sent int }

func (r *recorder) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	r.sent++
	return len(b), nil
}

// FuzzHandlePacket feeds arbitrary datagrams, from the configured NAS or
// from an unknown address, through the whole packet path into a real
// spool. Nothing may panic, and nothing is written or answered unless the
// packet is an Accounting-Request from the NAS with a valid authenticator.
//
// Few mutations keep an authenticator valid, so each Accounting-Request
// from the NAS is also sent signed with the NAS's secret, which takes the
// fuzzer into the attributes. Of those: an accepted one is written once,
// answered once and survives the spool's line format; a refused one is
// refused naming the attribute; and the importer, given the same request
// as FreeRADIUS writes it in a detail file, makes the same record or
// refuses it too.
func FuzzHandlePacket(f *testing.F) {
	seed := func(p *radius.Packet) []byte {
		b, err := p.Encode()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	start := seed(acctRequest(testSecret, 1, "fuzz-session"))
	f.Add(start, true)
	f.Add(start, false)
	f.Add(seed(acctRequest("other", 1, "fuzz-session")), true)
	f.Add(seed(acctRequest(testSecret, 7, "")), true)
	f.Add(seed(radius.New(radius.CodeAccessRequest, []byte(testSecret))), true)
	f.Add(start[:20], true)
	f.Add(append(append([]byte(nil), start...), 0, 0, 0), true) // padding after Length

	edge := testEdge(f)
	out := &recorder{}
	s := newServer(edge, discardLog(), out)
	st, err := s.openStore()
	if err != nil {
		f.Fatal(err)
	}
	s.st = st
	nas := netip.MustParseAddrPort("127.0.0.1:4000")
	stranger := netip.MustParseAddrPort("127.0.0.9:4000")
	now := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, b []byte, known bool) {
		src := stranger
		if known {
			src = nas
		}
		written, sent := s.n.written.Load(), out.sent
		now = now.Add(time.Hour) // past the retransmission window: every input is new
		r := s.receive(b, src, now)
		if r != nil {
			if a := s.commit([]*request{r}); a != nil {
				s.send(a)
			}
		}
		valid := known && len(b) >= 20 && radius.Code(b[0]) == radius.CodeAccountingRequest &&
			int(b[2])<<8|int(b[3]) <= len(b) && int(b[2])<<8|int(b[3]) >= 20 &&
			radius.IsAuthenticRequest(b[:int(b[2])<<8|int(b[3])], []byte(testSecret))
		if !valid && (r != nil || s.n.written.Load() != written || out.sent != sent) {
			t.Fatalf("invalid packet (known %v) was accepted: written %d→%d, answers %d→%d",
				known, written, s.n.written.Load(), sent, out.sent)
		}
		if r != nil {
			if s.n.written.Load() != written+1 || out.sent != sent+1 {
				t.Fatalf("accepted packet: written %d→%d, answers %d→%d", written, s.n.written.Load(), sent, out.sent)
			}
			line := r.rec.AppendLine(nil)
			if back, err := spool.ParseLine(line[:len(line)-1]); err != nil || back != r.rec {
				t.Fatalf("record does not survive the spool format: %v", err)
			}
		}
		if !known || len(b) < 20 || radius.Code(b[0]) != radius.CodeAccountingRequest || valid {
			return
		}
		l := int(b[2])<<8 | int(b[3])
		if l < 20 || l > len(b) || l > radius.MaxPacketLength {
			return
		}
		signed := sign(b[:l], []byte(testSecret))
		now = now.Add(time.Hour)
		written, sent = s.n.written.Load(), out.sent
		r = s.receive(signed, src, now)
		if r != nil {
			if a := s.commit([]*request{r}); a != nil {
				s.send(a)
			}
			if s.n.written.Load() != written+1 || out.sent != sent+1 {
				t.Fatalf("accepted signed packet: written %d→%d, answers %d→%d", written, s.n.written.Load(), sent, out.sent)
			}
		}
		p, err := radius.Parse(signed, []byte(testSecret))
		if err != nil {
			if r != nil {
				t.Fatalf("accepted a packet radius.Parse refuses: %v", err)
			}
			return
		}
		listened, imported, lerr, ierr := bothRecords(t, p, now)
		if (r != nil) != (lerr == nil) {
			t.Fatalf("receive and toRecord disagree: accepted %v, toRecord %v", r != nil, lerr)
		}
		if (lerr == nil) != (ierr == nil) {
			t.Fatalf("the listener and the importer disagree on\n%s\nlistener: %v\nimporter: %v", asDetail(p, src, now), lerr, ierr)
		}
		if lerr != nil {
			var me *MalformedError
			if !errors.As(lerr, &me) || !namesAttribute(me.Reason) {
				t.Fatalf("refusal %v names no attribute", lerr)
			}
			var de *detail.Error
			if !errors.As(ierr, &de) || de.Line < 1 || de.Field == "" && !strings.HasPrefix(de.Err.Error(), "field ") {
				t.Fatalf("importer's refusal %v names no line and attribute", ierr)
			}
			return
		}
		if listened.LocalServer = r.rec.LocalServer; r.rec != listened {
			t.Fatalf("receive and toRecord made different records:\n%+v\n%+v", r.rec, listened)
		}
		if d := agree(listened, imported); d != "" {
			t.Fatalf("the listener and the importer disagree on\n%s%s", asDetail(p, src, now), d)
		}
	})
}

// sign sets the Request Authenticator of an Accounting-Request (RFC 2866
// §3) for secret.
func sign(b, secret []byte) []byte {
	out := append([]byte(nil), b...)
	clear(out[4:20])
	h := md5.New()
	h.Write(out)
	h.Write(secret)
	copy(out[4:20], h.Sum(nil))
	return out
}

// namesAttribute says whether a refusal names the attribute it is about.
func namesAttribute(reason string) bool {
	for id := radattr.ID(1); id < radattr.Count; id++ {
		if strings.Contains(reason, id.String()) {
			return true
		}
	}
	return false
}
