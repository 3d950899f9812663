package radattr

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"

	"roamsettle/pkg/spool"
)

// The table's numbers and names are those of layeh.com/radius's
// dictionaries (generated from FreeRADIUS's), where they have them.
func TestTableMatchesDictionaries(t *testing.T) {
	for _, tc := range []struct {
		id   ID
		want radius.Type
	}{
		{AcctStatusType, rfc2866.AcctStatusType_Type}, {AcctSessionID, rfc2866.AcctSessionID_Type},
		{UserName, rfc2865.UserName_Type}, {NASIPAddress, rfc2865.NASIPAddress_Type},
		{NASIPv6Address, rfc3162.NASIPv6Address_Type}, {NASIdentifier, rfc2865.NASIdentifier_Type},
		{NASPort, rfc2865.NASPort_Type}, {NASPortID, rfc2869.NASPortID_Type}, {NASPortType, rfc2865.NASPortType_Type},
		{CallingStationID, rfc2865.CallingStationID_Type}, {CalledStationID, rfc2865.CalledStationID_Type},
		{FramedIPAddress, rfc2865.FramedIPAddress_Type}, {AcctDelayTime, rfc2866.AcctDelayTime_Type},
		{AcctSessionTime, rfc2866.AcctSessionTime_Type}, {AcctInputOctets, rfc2866.AcctInputOctets_Type},
		{AcctOutputOctets, rfc2866.AcctOutputOctets_Type}, {AcctInputGigawords, rfc2869.AcctInputGigawords_Type},
		{AcctOutputGigawords, rfc2869.AcctOutputGigawords_Type}, {AcctInputPackets, rfc2866.AcctInputPackets_Type},
		{AcctOutputPackets, rfc2866.AcctOutputPackets_Type}, {AcctTerminateCause, rfc2866.AcctTerminateCause_Type},
		{EventTimestamp, rfc2869.EventTimestamp_Type}, {Class, rfc2865.Class_Type},
	} {
		if got := radius.Type(tc.id.Attr().Number); got != tc.want {
			t.Errorf("%s: number %d, want %d", tc.id, got, tc.want)
		}
		if id, ok := ByNumber(byte(tc.want)); !ok || id != tc.id {
			t.Errorf("ByNumber(%d) = %v, %v; want %s", tc.want, id, ok, tc.id)
		}
	}
	for v, name := range rfc2865.NASPortType_Strings {
		if got := NASPortType.Attr().ValueName(Value{Num: uint32(v)}); got != name {
			t.Errorf("NAS-Port-Type %d: %q, want %q", v, got, name)
		}
	}
	for v, name := range rfc2866.AcctTerminateCause_Strings {
		if got := AcctTerminateCause.Attr().ValueName(Value{Num: uint32(v)}); got != name {
			t.Errorf("Acct-Terminate-Cause %d: %q, want %q", v, got, name)
		}
	}
	for v, name := range rfc2866.AcctStatusType_Strings {
		if got := AcctStatusType.Attr().ValueName(Value{Num: uint32(v)}); got != name {
			t.Errorf("Acct-Status-Type %d: %q, want %q", v, got, name)
		}
	}
	for id := ID(1); id < Count; id++ {
		if a := id.Attr(); a.Name == "" || a.Kind == 0 {
			t.Errorf("ID %d has no entry", id)
		}
	}
}

func TestLookups(t *testing.T) {
	for _, tc := range []struct {
		name string
		want ID
		ok   bool
	}{
		{"User-Name", UserName, true},
		{"user-name", UserName, true},
		{"ACCT-STATUS-TYPE", AcctStatusType, true},
		{"Freeradius-Proxied-To", FreeRADIUSProxiedTo, true},
		{"Acct-Unique-Session-Id", 0, false},
		{"", 0, false},
	} {
		if id, ok := ByName(tc.name); id != tc.want || ok != tc.ok {
			t.Errorf("ByName(%q) = %v, %v; want %v, %v", tc.name, id, ok, tc.want, tc.ok)
		}
	}
	if _, ok := ByNumber(26); ok {
		t.Error("Vendor-Specific is not kept")
	}
	for _, id := range []ID{Timestamp, PacketSrcIPAddress, FreeRADIUSProxiedTo} {
		if id.Attr().Number != 0 {
			t.Errorf("%s is not on the wire", id)
		}
	}
}

func TestEnums(t *testing.T) {
	status := AcctStatusType.Attr()
	for _, tc := range []struct {
		name  string
		value uint32
		ok    bool
	}{
		{"Start", 1, true}, {"interim-update", 3, true}, {"Alive", 3, true}, {"Accounting-Off", 8, true},
		{"Failed", 15, true}, {"Tunnel-Start", 9, true}, {"Begin", 0, false},
	} {
		if v, ok := status.EnumValue(tc.name); v != tc.value || ok != tc.ok {
			t.Errorf("EnumValue(%q) = %d, %v", tc.name, v, ok)
		}
	}
	for _, tc := range []struct {
		v    Value
		want string
		ok   bool
	}{
		{Value{Num: 1}, spool.Start, true}, {Value{Num: 2}, spool.Stop, true}, {Value{Num: 3}, spool.Interim, true},
		{Value{Num: 7}, spool.AccountingOn, true}, {Value{Num: 8}, spool.AccountingOff, true},
		{Value{Num: 15}, "", false}, {Value{Num: 0}, "", false}, {Value{Text: "Start"}, "", false},
	} {
		if got, ok := SpoolStatus(tc.v); got != tc.want || ok != tc.ok {
			t.Errorf("SpoolStatus(%+v) = %q, %v", tc.v, got, ok)
		}
	}
	cause := AcctTerminateCause.Attr()
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{Value{Num: 4}, "Idle-Timeout"}, {Value{Num: 22}, "Port-Administratively-Disabled"},
		{Value{Num: 0}, "0"}, {Value{Num: 4000}, "4000"}, {Value{Text: "Vendor-Cause"}, "Vendor-Cause"},
	} {
		if got := cause.ValueName(tc.v); got != tc.want {
			t.Errorf("ValueName(%+v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		id   ID
		b    []byte
		want Value
		err  string
	}{
		{UserName, []byte("u@aimnet.com"), Value{Text: "u@aimnet.com"}, ""},
		{UserName, nil, Value{}, ""},
		{AcctSessionTime, []byte{0, 0, 1, 0}, Value{Num: 256}, ""},
		{AcctSessionTime, []byte{1, 0}, Value{}, "2 octets, want 4"},
		{EventTimestamp, []byte{0x6a, 0x3f, 0xe5, 0x37}, Value{Time: time.Unix(0x6a3fe537, 0).UTC()}, ""},
		{EventTimestamp, []byte{0, 0, 0, 0}, Value{}, ""}, // no clock: as if absent
		{NASIPAddress, []byte{192, 0, 2, 10}, Value{Addr: netip.MustParseAddr("192.0.2.10")}, ""},
		{NASIPAddress, netip.MustParseAddr("2001:db8::1").AsSlice(), Value{}, "16 octets, want 4"},
		{NASIPv6Address, netip.MustParseAddr("2001:db8::1").AsSlice(), Value{Addr: netip.MustParseAddr("2001:db8::1")}, ""},
		{Class, []byte{0xde, 0xad}, Value{Text: "\xde\xad"}, ""},
	} {
		got, err := Decode(tc.id, tc.b)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Decode(%s, % x): %v, want %q", tc.id, tc.b, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("Decode(%s, % x) = %+v, %v; want %+v", tc.id, tc.b, got, err, tc.want)
		}
	}
}

// A single-valued attribute given twice: the same value is one value,
// another value is refused; Class may repeat and keeps its first.
func TestValuesAdd(t *testing.T) {
	var vs Values
	steps := []struct {
		id  ID
		v   Value
		err string
	}{
		{UserName, Value{Text: "u@aimnet.com"}, ""},
		{UserName, Value{Text: "u@aimnet.com"}, ""},
		{UserName, Value{Text: "u"}, `User-Name given twice with different values ("u@aimnet.com", then "u")`},
		{AcctStatusType, Value{Num: 1}, ""},
		{AcctStatusType, Value{Num: 2}, "Acct-Status-Type given twice with different values (Start, then Stop)"},
		{EventTimestamp, Value{}, ""},
		{EventTimestamp, Value{Time: time.Unix(1, 0).UTC()}, "Event-Timestamp given twice with different values (0, then 1970-01-01T00:00:01Z)"},
		{Class, Value{Text: "a"}, ""},
		{Class, Value{Text: "b"}, ""},
	}
	for i, s := range steps {
		err := vs.Add(s.id, s.v)
		var dup *DuplicateError
		if s.err == "" && err != nil || s.err != "" && (!errors.As(err, &dup) || err.Error() != s.err) {
			t.Errorf("step %d: %v, want %q", i, err, s.err)
		}
	}
	if v, _ := vs.Get(UserName); v.Text != "u@aimnet.com" {
		t.Errorf("User-Name %q: the first value stays", v.Text)
	}
	if v, _ := vs.Get(Class); v.Text != "a" {
		t.Errorf("Class %q: the first value stays", v.Text)
	}
}

func TestFill(t *testing.T) {
	received := time.Date(2026, 6, 30, 18, 43, 35, 0, time.UTC)
	set := func(pairs ...any) *Values {
		var vs Values
		for i := 0; i < len(pairs); i += 2 {
			if err := vs.Add(pairs[i].(ID), pairs[i+1].(Value)); err != nil {
				t.Fatal(err)
			}
		}
		return &vs
	}
	tests := []struct {
		name string
		vs   *Values
		want spool.Record
	}{
		{"event time from the delay", set(AcctStatusType, Value{Num: 2}, AcctSessionID, Value{Text: "s"}, AcctDelayTime, Value{Num: 5}),
			spool.Record{StatusType: spool.Stop, SessionID: "s", DelayTime: 5, EventTime: received.Add(-5 * time.Second)}},
		{"Event-Timestamp 0 is absent", set(AcctStatusType, Value{Num: 1}, EventTimestamp, Value{}, AcctDelayTime, Value{Num: 5}),
			spool.Record{StatusType: spool.Start, DelayTime: 5, EventTime: received.Add(-5 * time.Second)}},
		{"Event-Timestamp", set(AcctStatusType, Value{Num: 1}, EventTimestamp, Value{Time: received.Add(-time.Minute)}),
			spool.Record{StatusType: spool.Start, EventTime: received.Add(-time.Minute), EventStamped: true}},
		{"gigawords folded", set(AcctInputOctets, Value{Num: 0xFFFFFFFF}, AcctInputGigawords, Value{Num: 0xFFFFFFFF},
			AcctOutputGigawords, Value{Num: 1}, AcctInputPackets, Value{Num: 3}),
			spool.Record{InputOctets: 1<<64 - 1, OutputOctets: 1 << 32, InputPackets: 3, EventTime: received}},
		{"NAS-IP-Address before NAS-IPv6-Address", set(NASIPv6Address, Value{Addr: netip.MustParseAddr("2001:db8::6")},
			NASIPAddress, Value{Addr: netip.MustParseAddr("192.0.2.10")}),
			spool.Record{NASIP: "192.0.2.10", EventTime: received}},
		{"enums, octets, port", set(NASPortType, Value{Num: 19}, AcctTerminateCause, Value{Num: 99}, Class, Value{Text: "roam"},
			NASPort, Value{Num: 0}, FramedIPAddress, Value{Addr: netip.MustParseAddr("10.0.0.9")}),
			spool.Record{NASPortType: "Wireless-802.11", TerminateCause: "99", Class: "726f616d", NASPort: "0", FramedIP: "10.0.0.9", EventTime: received}},
		{"unkept status leaves it empty", set(AcctStatusType, Value{Num: 15}), spool.Record{EventTime: received}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := spool.Record{Received: received}
			tc.vs.Fill(&r)
			tc.want.Received = received
			if r != tc.want {
				t.Errorf("got  %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func TestFold(t *testing.T) {
	if Fold(5, 2) != 2<<32+5 || Fold(0xFFFFFFFF, 0xFFFFFFFF) != 1<<64-1 || Fold(0, 0) != 0 {
		t.Error("Fold")
	}
}
