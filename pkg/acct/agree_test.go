package acct

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"roamsettle/pkg/config"
	"roamsettle/pkg/detail"
	"roamsettle/pkg/spool"
)

// The listener and the importer must make the same record of the same
// request: a NAS pointed at roamcollect listen, or at a FreeRADIUS whose
// detail file roamcollect import reads, gives the same spool.

// detailAttr is how FreeRADIUS writes an attribute of a packet in a detail
// file. This table is the test's own, on purpose: it is the oracle, not
// the code under test.
var detailAttr = map[radius.Type]struct {
	name string
	kind byte // s string, i integer (dates too), 4 IPv4, 6 IPv6, o octets
}{
	1: {"User-Name", 's'}, 4: {"NAS-IP-Address", '4'}, 5: {"NAS-Port", 'i'}, 8: {"Framed-IP-Address", '4'},
	25: {"Class", 'o'}, 30: {"Called-Station-Id", 's'}, 31: {"Calling-Station-Id", 's'}, 32: {"NAS-Identifier", 's'},
	40: {"Acct-Status-Type", 'i'}, 41: {"Acct-Delay-Time", 'i'}, 42: {"Acct-Input-Octets", 'i'},
	43: {"Acct-Output-Octets", 'i'}, 44: {"Acct-Session-Id", 's'}, 46: {"Acct-Session-Time", 'i'},
	47: {"Acct-Input-Packets", 'i'}, 48: {"Acct-Output-Packets", 'i'}, 49: {"Acct-Terminate-Cause", 'i'},
	52: {"Acct-Input-Gigawords", 'i'}, 53: {"Acct-Output-Gigawords", 'i'}, 55: {"Event-Timestamp", 'i'},
	61: {"NAS-Port-Type", 'i'}, 87: {"NAS-Port-Id", 's'}, 95: {"NAS-IPv6-Address", '6'},
}

// asDetail writes p as FreeRADIUS's detail module would, received from
// src at received (whole seconds). A value of the wrong length is written
// as FreeRADIUS writes what it cannot decode: raw, "Attr-<number> = 0x...".
func asDetail(p *radius.Packet, src netip.AddrPort, received time.Time) string {
	var b strings.Builder
	b.WriteString(received.UTC().Format(time.ANSIC) + "\n")
	fmt.Fprintf(&b, "\tPacket-Src-IP-Address = %s\n\tPacket-Src-Port = %d\n", src.Addr(), src.Port())
	for _, avp := range p.Attributes {
		d, ok := detailAttr[avp.Type]
		if !ok {
			continue
		}
		v := avp.Attribute
		name, text := d.name, ""
		switch {
		case d.kind == 's':
			text = detail.Quote(string(v))
		case d.kind == 'o':
			text = "0x" + hex.EncodeToString(v)
		case d.kind == 'i' && len(v) == 4:
			text = strconv.FormatUint(uint64(binary.BigEndian.Uint32(v)), 10)
		case d.kind == '4' && len(v) == 4, d.kind == '6' && len(v) == 16:
			a, _ := netip.AddrFromSlice(v)
			text = a.String()
		default:
			name, text = fmt.Sprintf("Attr-%d", avp.Type), "0x"+hex.EncodeToString(v)
		}
		fmt.Fprintf(&b, "\t%s = %s\n", name, text)
	}
	fmt.Fprintf(&b, "\tTimestamp = %d\n\n", received.Unix())
	return b.String()
}

var agreeEdge = &config.Edge{ISP: "ISPB", Timezone: "Australia/Sydney",
	NAS: []config.NAS{{Name: "nas1", Address: netip.MustParseAddr("127.0.0.1")}}}

// bothRecords maps p with the listener and, written as a detail record,
// with the importer.
func bothRecords(t testing.TB, p *radius.Packet, received time.Time) (listened, imported spool.Record, lerr, ierr error) {
	t.Helper()
	src := netip.MustParseAddrPort("127.0.0.1:4000")
	listened, lerr = toRecord(p, origin{NAS: "nas1", Source: src.String(), TimeZone: agreeEdge.Timezone,
		Local: "ISPB 127.0.0.1:1813", Received: received})
	m, err := detail.NewMapper(agreeEdge)
	if err != nil {
		t.Fatal(err)
	}
	text := asDetail(p, src, received)
	e, err := detail.NewParser(strings.NewReader(text), "d", 0, 0).Next()
	if err != nil {
		t.Fatalf("detail text %q: %v", text, err)
	}
	if ierr = e.Err; ierr == nil {
		imported, ierr = m.Record(e, "d")
	}
	return listened, imported, lerr, ierr
}

// agree says how the two records differ, "" when they do not: the same
// spool line but for where each came from.
func agree(listened, imported spool.Record) string {
	listened.Origin, listened.PacketID, listened.Authenticator, listened.LocalServer =
		imported.Origin, imported.PacketID, imported.Authenticator, imported.LocalServer
	l, i := listened.AppendLine(nil), imported.AppendLine(nil)
	if string(l) == string(i) {
		return ""
	}
	return fmt.Sprintf("listener: %s\nimporter: %s", l, i)
}

func TestListenerAndImporterAgree(t *testing.T) {
	received := time.Date(2026, 6, 30, 18, 43, 35, 0, time.UTC)
	stamp := func(unix uint32) func(*radius.Packet) {
		return raw(rfc2869.EventTimestamp_Type, binary.BigEndian.AppendUint32(nil, unix))
	}
	user := func(v string) func(*radius.Packet) {
		return func(p *radius.Packet) { rfc2865.UserName_AddString(p, v) }
	}
	start, stop := status(rfc2866.AcctStatusType_Value_Start), status(rfc2866.AcctStatusType_Value_Stop)
	tests := []struct {
		name   string
		p      *radius.Packet
		refuse bool // both must refuse it
	}{
		{name: "every field", p: packet(stop, sid("4D2A/7"), user("user1@aimnet.com"),
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
			func(p *radius.Packet) { rfc2865.Class_Add(p, []byte{0xde, 0xad}) },
			func(p *radius.Packet) { rfc2866.AcctSessionTime_Add(p, 3600) },
			func(p *radius.Packet) { rfc2866.AcctDelayTime_Add(p, 4) },
			func(p *radius.Packet) { rfc2866.AcctInputOctets_Add(p, 5) },
			func(p *radius.Packet) { rfc2869.AcctInputGigawords_Add(p, 2) },
			func(p *radius.Packet) { rfc2866.AcctOutputOctets_Add(p, 0xFFFFFFFF) },
			func(p *radius.Packet) { rfc2869.AcctOutputGigawords_Add(p, 0xFFFFFFFF) },
			func(p *radius.Packet) { rfc2866.AcctInputPackets_Add(p, 7) },
			func(p *radius.Packet) { rfc2866.AcctOutputPackets_Add(p, 8) },
			stamp(1782845000))},
		{name: "Event-Timestamp 0 is no clock", p: packet(start, sid("s"), stamp(0), func(p *radius.Packet) { rfc2866.AcctDelayTime_Add(p, 5) })},
		{name: "Accounting-On", p: packet(status(rfc2866.AcctStatusType_Value_AccountingOn))},
		{name: "IPv6 NAS", p: packet(start, sid("s"), raw(95, netip.MustParseAddr("2001:db8::6").AsSlice()))},
		{name: "both NAS addresses, IPv6 first", p: packet(start, sid("s"), raw(95, netip.MustParseAddr("2001:db8::6").AsSlice()),
			func(p *radius.Packet) { rfc2865.NASIPAddress_Add(p, net.IPv4(192, 0, 2, 10)) })},
		{name: "terminate cause without an RFC 2866 name", p: packet(stop, sid("s"), func(p *radius.Packet) { rfc2866.AcctTerminateCause_Add(p, 20) })},
		{name: "unknown terminate cause", p: packet(stop, sid("s"), func(p *radius.Packet) { rfc2866.AcctTerminateCause_Add(p, 4000) })},
		{name: "port type of RFC 4603", p: packet(start, sid("s"), func(p *radius.Packet) { rfc2865.NASPortType_Add(p, 32) })},
		{name: "strings with any bytes", p: packet(start, sid("a \"b\"\\\x00\n\xff"), user("é\tü\x7f"))},
		{name: "empty strings", p: packet(start, sid("s"), user(""), func(p *radius.Packet) { rfc2865.CalledStationID_AddString(p, "") })},
		{name: "the same User-Name twice", p: packet(start, sid("s"), user("u@aimnet.com"), user("u@aimnet.com"))},
		{name: "Class twice", p: packet(start, sid("s"), func(p *radius.Packet) { rfc2865.Class_Add(p, []byte("a")) },
			func(p *radius.Packet) { rfc2865.Class_Add(p, []byte("b")) })},
		{name: "as many attributes as a packet holds", p: packet(start, sid("s"), func(p *radius.Packet) {
			for range 2000 {
				rfc2865.Class_Add(p, nil)
			}
		})},
		{name: "two User-Names", p: packet(start, sid("s"), user("u@aimnet.com"), user("u@connect.com")), refuse: true},
		{name: "Start then Stop", p: packet(start, stop, sid("s")), refuse: true},
		{name: "two session ids", p: packet(start, sid("s"), sid("t")), refuse: true},
		{name: "two Event-Timestamps", p: packet(start, sid("s"), stamp(1782845000), stamp(1782845001)), refuse: true},
		{name: "no status", p: packet(sid("s")), refuse: true},
		{name: "Failed", p: packet(status(rfc2866.AcctStatusType_Value_Failed), sid("s")), refuse: true},
		{name: "no session id", p: packet(start), refuse: true},
		{name: "short integer", p: packet(start, sid("s"), raw(rfc2866.AcctSessionTime_Type, []byte{1, 2})), refuse: true},
		{name: "short address", p: packet(start, sid("s"), raw(rfc2865.FramedIPAddress_Type, []byte{10, 0, 0})), refuse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, i, lerr, ierr := bothRecords(t, tt.p, received)
			if tt.refuse {
				if lerr == nil || ierr == nil {
					t.Fatalf("want both to refuse it; listener: %v, importer: %v\nlistener record %+v", lerr, ierr, l)
				}
				return
			}
			if lerr != nil || ierr != nil {
				t.Fatalf("listener: %v, importer: %v", lerr, ierr)
			}
			if d := agree(l, i); d != "" {
				t.Fatal(d)
			}
		})
	}
}
