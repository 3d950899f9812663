package acct

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"roamsettle/pkg/spool"
)

var recv = time.Date(2026, 6, 30, 18, 43, 35, 250_000_000, time.UTC)

func testOrigin() origin {
	return origin{NAS: "nas1", Source: "192.0.2.10:4000", TimeZone: "Australia/Sydney", Local: "ISPB 127.0.0.1:1813", Received: recv}
}

// packet builds an Accounting-Request with the given attribute setters.
func packet(set ...func(*radius.Packet)) *radius.Packet {
	p := radius.New(radius.CodeAccountingRequest, []byte("secret"))
	p.Identifier = 42
	copy(p.Authenticator[:], "0123456789abcdef")
	for _, f := range set {
		f(p)
	}
	return p
}

func status(v rfc2866.AcctStatusType) func(*radius.Packet) {
	return func(p *radius.Packet) { rfc2866.AcctStatusType_Add(p, v) }
}

func sid(v string) func(*radius.Packet) {
	return func(p *radius.Packet) { rfc2866.AcctSessionID_AddString(p, v) }
}

func raw(t radius.Type, b []byte) func(*radius.Packet) {
	return func(p *radius.Packet) { p.Add(t, radius.Attribute(b)) }
}

func TestToRecord(t *testing.T) {
	stamp := time.Date(2026, 6, 30, 18, 40, 0, 0, time.UTC)
	tests := []struct {
		name   string
		p      *radius.Packet
		check  func(t *testing.T, r spool.Record)
		reason string // want a MalformedError containing this
	}{
		{
			name: "event time from Event-Timestamp",
			p: packet(status(rfc2866.AcctStatusType_Value_Start), sid("4D2A"),
				func(p *radius.Packet) { rfc2869.EventTimestamp_Add(p, stamp) },
				func(p *radius.Packet) { rfc2866.AcctDelayTime_Add(p, 30) }),
			check: func(t *testing.T, r spool.Record) {
				if !r.EventTime.Equal(stamp) || !r.EventStamped || r.DelayTime != 30 {
					t.Errorf("event %v stamped %v delay %d", r.EventTime, r.EventStamped, r.DelayTime)
				}
			},
		},
		{
			name: "event time is receipt minus Acct-Delay-Time",
			p: packet(status(rfc2866.AcctStatusType_Value_InterimUpdate), sid("4D2A"),
				func(p *radius.Packet) { rfc2866.AcctDelayTime_Add(p, 12) },
				func(p *radius.Packet) { rfc2866.AcctSessionTime_Add(p, 600) }),
			check: func(t *testing.T, r spool.Record) {
				if want := recv.Add(-12 * time.Second); !r.EventTime.Equal(want) || r.EventStamped {
					t.Errorf("event %v (stamped %v), want %v", r.EventTime, r.EventStamped, want)
				}
				if r.StatusType != spool.Interim || r.SessionTime != 600 {
					t.Errorf("status %q session time %d", r.StatusType, r.SessionTime)
				}
			},
		},
		{
			name: "no delay: event time is receipt",
			p:    packet(status(rfc2866.AcctStatusType_Value_Start), sid("x")),
			check: func(t *testing.T, r spool.Record) {
				if !r.EventTime.Equal(recv) {
					t.Errorf("event %v", r.EventTime)
				}
			},
		},
		{
			name: "gigawords fold into octets",
			p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("x"),
				func(p *radius.Packet) { rfc2866.AcctInputOctets_Add(p, 5) },
				func(p *radius.Packet) { rfc2869.AcctInputGigawords_Add(p, 2) },
				func(p *radius.Packet) { rfc2866.AcctOutputOctets_Add(p, 0xFFFFFFFF) },
				func(p *radius.Packet) { rfc2869.AcctOutputGigawords_Add(p, 1) },
				func(p *radius.Packet) { rfc2866.AcctInputPackets_Add(p, 7) },
				func(p *radius.Packet) { rfc2866.AcctOutputPackets_Add(p, 8) }),
			check: func(t *testing.T, r spool.Record) {
				if r.InputOctets != 2<<32+5 || r.OutputOctets != 1<<32+0xFFFFFFFF {
					t.Errorf("octets in %d out %d", r.InputOctets, r.OutputOctets)
				}
				if r.InputPackets != 7 || r.OutputPackets != 8 {
					t.Errorf("packets %d %d", r.InputPackets, r.OutputPackets)
				}
			},
		},
		{
			name: "Accounting-On needs no session id",
			p:    packet(status(rfc2866.AcctStatusType_Value_AccountingOn)),
			check: func(t *testing.T, r spool.Record) {
				if r.StatusType != spool.AccountingOn || r.SessionID != "" || !r.NASControl() {
					t.Errorf("%+v", r)
				}
			},
		},
		{
			name: "Accounting-Off",
			p:    packet(status(rfc2866.AcctStatusType_Value_AccountingOff)),
			check: func(t *testing.T, r spool.Record) {
				if r.StatusType != spool.AccountingOff {
					t.Errorf("status %q", r.StatusType)
				}
			},
		},
		{
			name: "every field",
			p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("4D2A/7"),
				func(p *radius.Packet) { rfc2865.UserName_AddString(p, "user1@aimnet.com") },
				func(p *radius.Packet) { rfc2865.NASIPAddress_Add(p, net.IPv4(192, 0, 2, 10)) },
				func(p *radius.Packet) { rfc2865.NASIdentifier_AddString(p, "bras-1") },
				func(p *radius.Packet) { rfc2865.NASPort_Add(p, 17) },
				func(p *radius.Packet) { rfc2869.NASPortID_AddString(p, "eth0/1") },
				func(p *radius.Packet) { rfc2865.NASPortType_Add(p, rfc2865.NASPortType_Value_Wireless80211) },
				func(p *radius.Packet) { rfc2865.CallingStationID_AddString(p, "02-00-00-00-00-01") },
				func(p *radius.Packet) { rfc2865.CalledStationID_AddString(p, "hotspot") },
				func(p *radius.Packet) { rfc2865.FramedIPAddress_Add(p, net.IPv4(10, 0, 0, 9)) },
				func(p *radius.Packet) {
					rfc2866.AcctTerminateCause_Add(p, rfc2866.AcctTerminateCause_Value_IdleTimeout)
				},
				func(p *radius.Packet) { rfc2865.Class_Add(p, []byte{0xde, 0xad}) }),
			check: func(t *testing.T, r spool.Record) {
				want := spool.Record{
					Received: recv, Origin: "radius", NAS: "nas1", NASIP: "192.0.2.10", NASIdentifier: "bras-1",
					Source: "192.0.2.10:4000", PacketID: 42, Authenticator: "30313233343536373839616263646566",
					StatusType: spool.Stop, SessionID: "4D2A/7", UserName: "user1@aimnet.com", EventTime: recv,
					TimeZone: "Australia/Sydney", LocalServer: "ISPB 127.0.0.1:1813", NASPort: "17", NASPortID: "eth0/1",
					NASPortType: "Wireless-802.11", CallingStation: "02-00-00-00-00-01", CalledStation: "hotspot",
					FramedIP: "10.0.0.9", TerminateCause: "Idle-Timeout", Class: "dead",
				}
				if r != want {
					t.Errorf("got  %+v\nwant %+v", r, want)
				}
				// And it survives the spool line format.
				back, err := spool.ParseLine(r.AppendLine(nil)[:len(r.AppendLine(nil))-1])
				if err != nil || back != r {
					t.Errorf("spool round trip: %v\n%+v", err, back)
				}
			},
		},
		{
			name: "values without an RFC name are kept as numbers",
			p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("x"),
				func(p *radius.Packet) { rfc2865.NASPortType_Add(p, 99) },
				func(p *radius.Packet) { rfc2866.AcctTerminateCause_Add(p, 1234) }),
			check: func(t *testing.T, r spool.Record) {
				if r.NASPortType != "99" || r.TerminateCause != "1234" {
					t.Errorf("port type %q cause %q", r.NASPortType, r.TerminateCause)
				}
			},
		},
		{
			name: "Event-Timestamp 0 is a NAS without a clock: as if absent",
			p: packet(status(rfc2866.AcctStatusType_Value_Start), sid("x"),
				raw(rfc2869.EventTimestamp_Type, []byte{0, 0, 0, 0}),
				func(p *radius.Packet) { rfc2866.AcctDelayTime_Add(p, 5) }),
			check: func(t *testing.T, r spool.Record) {
				if want := recv.Add(-5 * time.Second); !r.EventTime.Equal(want) || r.EventStamped {
					t.Errorf("event %v (stamped %v), want %v", r.EventTime, r.EventStamped, want)
				}
			},
		},
		{
			name: "the same User-Name twice is one",
			p: packet(status(rfc2866.AcctStatusType_Value_Start), sid("x"),
				func(p *radius.Packet) { rfc2865.UserName_AddString(p, "u@aimnet.com") },
				func(p *radius.Packet) { rfc2865.UserName_AddString(p, "u@aimnet.com") }),
			check: func(t *testing.T, r spool.Record) {
				if r.UserName != "u@aimnet.com" {
					t.Errorf("user %q", r.UserName)
				}
			},
		},
		{name: "two User-Names", p: packet(status(rfc2866.AcctStatusType_Value_Start), sid("x"),
			func(p *radius.Packet) { rfc2865.UserName_AddString(p, "u@aimnet.com") },
			func(p *radius.Packet) { rfc2865.UserName_AddString(p, "u") }),
			reason: `User-Name given twice with different values ("u@aimnet.com", then "u")`},
		{name: "Start and Stop", p: packet(status(rfc2866.AcctStatusType_Value_Start), status(rfc2866.AcctStatusType_Value_Stop), sid("x")),
			reason: "Acct-Status-Type given twice with different values (Start, then Stop)"},
		{name: "no Acct-Status-Type", p: packet(sid("x")), reason: "no Acct-Status-Type"},
		{name: "Start without session id", p: packet(status(rfc2866.AcctStatusType_Value_Start)), reason: "no Acct-Session-Id"},
		{name: "Stop with empty session id", p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("")), reason: "no Acct-Session-Id"},
		{name: "unsupported status", p: packet(status(rfc2866.AcctStatusType_Value_Failed), sid("x")), reason: "Acct-Status-Type 15"},
		{name: "status type of 3 octets", p: packet(raw(rfc2866.AcctStatusType_Type, []byte{0, 0, 1}), sid("x")), reason: "Acct-Status-Type"},
		{name: "bad session time", p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("x"), raw(rfc2866.AcctSessionTime_Type, []byte{1})), reason: "Acct-Session-Time"},
		{name: "bad Event-Timestamp", p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("x"), raw(rfc2869.EventTimestamp_Type, []byte{1, 2})), reason: "Event-Timestamp"},
		{name: "bad gigawords", p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("x"), raw(rfc2869.AcctInputGigawords_Type, []byte{1, 2, 3, 4, 5})), reason: "Acct-Input-Gigawords"},
		{name: "bad NAS-IP-Address", p: packet(status(rfc2866.AcctStatusType_Value_Stop), sid("x"), raw(rfc2865.NASIPAddress_Type, []byte{1})), reason: "NAS-IP-Address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := toRecord(tt.p, testOrigin())
			if tt.reason != "" {
				var me *MalformedError
				if !errors.As(err, &me) || !strings.Contains(me.Reason, tt.reason) {
					t.Fatalf("want malformed (%q), got %v", tt.reason, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Origin != "radius" || r.NAS != "nas1" || r.LocalServer != "ISPB 127.0.0.1:1813" || r.TimeZone != "Australia/Sydney" ||
				r.PacketID != 42 || r.Authenticator != "30313233343536373839616263646566" || !r.Received.Equal(recv) {
				t.Errorf("origin fields: %+v", r)
			}
			tt.check(t, r)
		})
	}
}
