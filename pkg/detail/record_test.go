package detail

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/spool"
)

func testEdge(spoolDir string) *config.Edge {
	return &config.Edge{
		ISP:      "ISPB",
		Spool:    spoolDir,
		Timezone: "Australia/Sydney",
		NAS: []config.NAS{
			{Name: "nas1", Address: netip.MustParseAddr("192.0.2.10")},
			{Name: "nas6", Address: netip.MustParseAddr("2001:db8::6")},
			{Name: "relay", Address: netip.MustParseAddr("198.51.100.1")},
		},
	}
}

// entry builds a one-record detail text from attribute lines.
func entry(lines ...string) string {
	return "Tue Jun 30 18:43:35 2026\n\t" + strings.Join(lines, "\n\t") + "\n\n"
}

func TestRecord(t *testing.T) {
	m, err := NewMapper(testEdge(""))
	if err != nil {
		t.Fatal(err)
	}
	base := []string{`Acct-Status-Type = Start`, `Acct-Session-Id = "s1"`, `User-Name = "u@aimnet.com"`, `NAS-IP-Address = 192.0.2.10`}
	t0 := time.Date(2026, 6, 30, 18, 43, 35, 0, time.UTC)
	with := func(extra ...string) string { return entry(append(append([]string{}, base...), extra...)...) }
	tests := []struct {
		name  string
		data  string
		check func(r spool.Record) bool
		err   string // "d:line: field: ..." substring
	}{
		{name: "receipt and delay", data: with("Acct-Delay-Time = 5", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.Received.Equal(t0) && r.EventTime.Equal(t0.Add(-5*time.Second)) && !r.EventStamped && r.DelayTime == 5 &&
				r.NAS == "nas1" && r.NASIP == "192.0.2.10" && r.Origin == "detail d:1" && r.LocalServer == "ISPB detail" &&
				r.TimeZone == "Australia/Sydney" && r.PacketID == -1 && r.Authenticator == ""
		}},
		{name: "event timestamp quoted UTC", data: with(`Event-Timestamp = "Jun 30 2026 18:40:00 UTC"`, "Timestamp = 1782845015", "Acct-Delay-Time = 9"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(time.Date(2026, 6, 30, 18, 40, 0, 0, time.UTC)) && r.EventStamped
		}},
		{name: "event timestamp space-padded day", data: with(`Event-Timestamp = "Jun  3 2026 08:00:00 GMT"`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(time.Date(2026, 6, 3, 8, 0, 0, 0, time.UTC))
		}},
		{name: "event timestamp integer", data: with(`Event-Timestamp = 1782845000`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(t0.Add(-15 * time.Second))
		}},
		{name: "event timestamp quoted integer", data: with(`Event-Timestamp = "1782845000"`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(t0.Add(-15 * time.Second))
		}},
		{name: "event timestamp RFC 3339", data: with(`Event-Timestamp = "2026-06-30T20:40:00+02:00"`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(time.Date(2026, 6, 30, 18, 40, 0, 0, time.UTC))
		}},
		{name: "event timestamp in the edge's zone", data: with(`Event-Timestamp = "Jul  1 2026 04:40:00 AEST"`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(time.Date(2026, 6, 30, 18, 40, 0, 0, time.UTC))
		}},
		{name: "event timestamp numeric offset", data: with(`Event-Timestamp = "Jun 30 2026 20:40:00 +0200"`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(time.Date(2026, 6, 30, 18, 40, 0, 0, time.UTC))
		}},
		{name: "event timestamp zero is no clock", data: with(`Event-Timestamp = "Jan  1 1970 00:00:00 UTC"`, "Acct-Delay-Time = 5", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(t0.Add(-5*time.Second)) && !r.EventStamped
		}},
		{name: "event timestamp integer zero", data: with(`Event-Timestamp = 0`, "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.EventTime.Equal(t0) && !r.EventStamped
		}},
		{name: "event timestamp before 1970", data: with(`Event-Timestamp = "Dec 31 1969 23:00:00 UTC"`, "Timestamp = 1782845015"), err: "d:6: Event-Timestamp: \"Dec 31 1969 23:00:00 UTC\" is out of range"},
		{name: "foreign zone name", data: with(`Event-Timestamp = "Jun 30 2026 20:40:00 CEST"`, "Timestamp = 1782845015"), err: `d:6: Event-Timestamp: "Jun 30 2026 20:40:00 CEST": zone "CEST"`},
		{name: "not a date", data: with(`Event-Timestamp = "yesterday"`, "Timestamp = 1782845015"), err: "d:6: Event-Timestamp:"},
		{name: "header fallback in edge zone", data: with(), check: func(r spool.Record) bool {
			return r.Received.Equal(time.Date(2026, 6, 30, 8, 43, 35, 0, time.UTC))
		}},
		{name: "enums as names", data: with("Acct-Terminate-Cause = Lost-Carrier", "NAS-Port-Type = Wireless-802.11", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.TerminateCause == "Lost-Carrier" && r.NASPortType == "Wireless-802.11"
		}},
		{name: "enums as integers", data: entry("Acct-Status-Type = 2", `Acct-Session-Id = "s1"`, "NAS-IP-Address = 192.0.2.10", "Acct-Terminate-Cause = 1", "NAS-Port-Type = 5", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.StatusType == spool.Stop && r.TerminateCause == "User-Request" && r.NASPortType == "Virtual"
		}},
		{name: "unknown enum numbers kept", data: with("Acct-Terminate-Cause = 99", "NAS-Port-Type = 77", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.TerminateCause == "99" && r.NASPortType == "77"
		}},
		{name: "status alias and case", data: entry("Acct-Status-Type = alive", `Acct-Session-Id = "s1"`, "NAS-IP-Address = 192.0.2.10", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.StatusType == spool.Interim
		}},
		{name: "gigawords folded", data: with("Acct-Input-Octets = 5", "Acct-Input-Gigawords = 1", "Acct-Output-Octets = 4294967295", "Acct-Output-Gigawords = 2", "Acct-Input-Packets = 7", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.InputOctets == 1<<32+5 && r.OutputOctets == 2<<32+4294967295 && r.InputPackets == 7
		}},
		{name: "other fields", data: with("NAS-Port = 7", `NAS-Port-Id = "wlan0"`, `NAS-Identifier = "nas1"`, `Calling-Station-Id = "00-11"`, `Called-Station-Id = "AA:ssid"`, "Framed-IP-Address = 10.0.0.7", "Class = 0x726F616D", "Acct-Session-Time = 60", `Freeradius-Proxied-To = 203.0.113.9`, `Acct-Unique-Session-Id = "ignored"`, "Attr-26 = 0x00", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.NASPort == "7" && r.NASPortID == "wlan0" && r.NASIdentifier == "nas1" && r.CallingStation == "00-11" && r.CalledStation == "AA:ssid" &&
				r.FramedIP == "10.0.0.7" && r.Class == "726f616d" && r.SessionTime == 60 && r.HomeServer == "203.0.113.9"
		}},
		{name: "class as string", data: with(`Class = "roam"`, "Timestamp = 1782845015"), check: func(r spool.Record) bool { return r.Class == "726f616d" }},
		{name: "NAS by packet source", data: with("Packet-Src-IP-Address = 198.51.100.1", "Packet-Src-Port = 1814", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.NAS == "relay" && r.Source == "198.51.100.1:1814" && r.NASIP == "192.0.2.10"
		}},
		{name: "NAS by Client-IP-Address", data: with("Client-IP-Address = 198.51.100.1", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.NAS == "relay" && r.Source == "198.51.100.1"
		}},
		{name: "unknown source falls back to NAS-IP-Address", data: with("Packet-Src-IP-Address = 127.0.0.1", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.NAS == "nas1"
		}},
		{name: "IPv6 NAS", data: entry("Acct-Status-Type = Start", `Acct-Session-Id = "s1"`, "NAS-IPv6-Address = 2001:db8::6", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.NAS == "nas6" && r.NASIP == "2001:db8::6"
		}},
		{name: "Accounting-On needs no session id", data: entry("Acct-Status-Type = Accounting-On", "NAS-IP-Address = 192.0.2.10", "Timestamp = 1782845015"), check: func(r spool.Record) bool {
			return r.StatusType == spool.AccountingOn && r.NAS == "nas1"
		}},
		{name: "unknown NAS", data: entry("Acct-Status-Type = Start", `Acct-Session-Id = "s1"`, "NAS-IP-Address = 192.0.2.99", "Timestamp = 1782845015"), err: "d:1: NAS-IP-Address: no [[edge.nas]] has address 192.0.2.99"},
		{name: "no NAS address", data: entry("Acct-Status-Type = Start", `Acct-Session-Id = "s1"`, "Timestamp = 1782845015"), err: "d:1: NAS-IP-Address: missing"},
		{name: "missing status", data: entry(`Acct-Session-Id = "s1"`, "NAS-IP-Address = 192.0.2.10", "Timestamp = 1782845015"), err: "d:1: Acct-Status-Type: missing"},
		{name: "unsupported status", data: entry("Acct-Status-Type = Tunnel-Start", `Acct-Session-Id = "s1"`, "NAS-IP-Address = 192.0.2.10"), err: `d:2: Acct-Status-Type: "Tunnel-Start" is not a status type`},
		{name: "missing session id", data: entry("Acct-Status-Type = Stop", "NAS-IP-Address = 192.0.2.10", "Timestamp = 1782845015"), err: "d:1: Acct-Session-Id: missing"},
		{name: "bad integer", data: with("Acct-Session-Time = -1", "Timestamp = 1782845015"), err: `d:6: Acct-Session-Time: "-1" is not an unsigned 32-bit integer`},
		{name: "bad address", data: with("Framed-IP-Address = 10.0.0", "Timestamp = 1782845015"), err: "d:6: Framed-IP-Address:"},
		{name: "conflicting duplicate", data: with("Acct-Session-Time = 1", "Acct-Session-Time = 2", "Timestamp = 1782845015"), err: "d:7: Acct-Session-Time: given twice"},
		{name: "two User-Names", data: with(`User-Name = "u"`, "Timestamp = 1782845015"), err: `d:6: User-Name: given twice with different values ("u@aimnet.com" on line 4, "u" here)`},
		{name: "Start and Stop", data: with("Acct-Status-Type = Stop", "Timestamp = 1782845015"), err: `d:6: Acct-Status-Type: given twice with different values ("Start" on line 2, "Stop" here)`},
		{name: "the same status spelt twice", data: with("Acct-Status-Type = 1", "Timestamp = 1782845015"), check: func(r spool.Record) bool { return r.StatusType == spool.Start }},
		{name: "a kept attribute FreeRADIUS could not decode", data: with("Attr-49 = 0x0001", "Timestamp = 1782845015"), err: "d:6: Attr-49: Acct-Terminate-Cause that FreeRADIUS could not decode"},
		{name: "same duplicate is fine", data: with("Acct-Session-Time = 1", "Acct-Session-Time = 1", "Timestamp = 1782845015"), check: func(r spool.Record) bool { return r.SessionTime == 1 }},
		{name: "no time at all", data: "custom header\n\t" + strings.Join(base, "\n\t") + "\n\n", err: "d:1: Timestamp: missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, _, err := parseAll(t, tc.data)
			if err != nil || len(es) != 1 || es[0].Err != nil {
				t.Fatalf("parse: %v, %d entries", err, len(es))
			}
			im := &importer{m: m}
			r, err := im.record(es[0], "d")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(r) {
				t.Errorf("record %+v", r)
			}
			// Every imported record survives the spool's own line format.
			back, err := spool.ParseLine(r.AppendLine(nil)[:len(r.AppendLine(nil))-1])
			if err != nil {
				t.Fatalf("spool line: %v", err)
			}
			if back.Origin != r.Origin || back.StatusType != r.StatusType {
				t.Errorf("spool round trip: %+v", back)
			}
		})
	}
}
