package radattr

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"roamsettle/pkg/spool"
)

// Value is one decoded attribute value; the field its Kind uses holds it.
type Value struct {
	Num  uint32     // Integer, Enum
	Text string     // String; Octets (the bytes, not hex); Enum: a name the table does not know
	Addr netip.Addr // Address
	Time time.Time  // Date, UTC; the zero Time for 0 (a NAS without a clock)
}

// Equal says whether two values of one attribute are the same value.
func (v Value) Equal(w Value) bool {
	return v.Num == w.Num && v.Text == w.Text && v.Addr == w.Addr && v.Time.Equal(w.Time)
}

// Format writes a value of attribute a for people.
func (a Attr) Format(v Value) string {
	switch a.Kind {
	case String:
		return strconv.Quote(v.Text)
	case Enum:
		return a.ValueName(v)
	case Date:
		if v.Time.IsZero() {
			return "0"
		}
		return v.Time.Format(time.RFC3339Nano)
	case Address:
		return v.Addr.String()
	case Octets:
		return "0x" + hex.EncodeToString([]byte(v.Text))
	}
	return strconv.FormatUint(uint64(v.Num), 10)
}

// Decode reads a value as RADIUS puts it on the wire (RFC 2865 §5).
func Decode(id ID, b []byte) (Value, error) {
	a := attrs[id]
	switch a.Kind {
	case String, Octets:
		return Value{Text: string(b)}, nil
	case Integer, Enum, Date:
		if len(b) != 4 {
			return Value{}, fmt.Errorf("%d octets, want 4", len(b))
		}
		n := binary.BigEndian.Uint32(b)
		if a.Kind != Date {
			return Value{Num: n}, nil
		}
		if n == 0 {
			return Value{}, nil
		}
		return Value{Time: time.Unix(int64(n), 0).UTC()}, nil
	case Address:
		want := 4
		if id == NASIPv6Address || id == PacketSrcIPv6Address {
			want = 16
		}
		if len(b) != want {
			return Value{}, fmt.Errorf("%d octets, want %d", len(b), want)
		}
		ip, _ := netip.AddrFromSlice(b)
		return Value{Addr: ip}, nil
	}
	return Value{}, fmt.Errorf("no decoder for %s", a.Name)
}

// Values are the decoded attributes of one request, whichever way they
// were read. The zero Values is empty.
type Values struct {
	set [Count]bool
	val [Count]Value
}

// DuplicateError is a single-valued attribute given twice with different
// values: which one is meant cannot be known (the realm of one User-Name
// and not of the other, a Stop behind a Start), so the request is refused.
type DuplicateError struct {
	ID           ID
	First, Again Value
}

func (e *DuplicateError) Error() string {
	a := attrs[e.ID]
	return fmt.Sprintf("%s given twice with different values (%s, then %s)", a.Name, a.Format(e.First), a.Format(e.Again))
}

// Add records a decoded value. A single-valued attribute given again with
// a different value is a *DuplicateError. Given again with the same value
// (a proxy that copied it) it is one value, and a second value of a
// repeatable attribute (Class) is ignored: the first is kept.
func (vs *Values) Add(id ID, v Value) error {
	if !vs.set[id] {
		vs.set[id], vs.val[id] = true, v
		return nil
	}
	if attrs[id].Repeat || vs.val[id].Equal(v) {
		return nil
	}
	return &DuplicateError{ID: id, First: vs.val[id], Again: v}
}

// Get returns an attribute's value, false when the request had none.
func (vs *Values) Get(id ID) (Value, bool) { return vs.val[id], vs.set[id] }

// Has says whether the request had the attribute.
func (vs *Values) Has(id ID) bool { return vs.set[id] }

func (vs *Values) text(id ID) string { return vs.val[id].Text }
func (vs *Values) num(id ID) uint32  { return vs.val[id].Num }
func (vs *Values) name(id ID) string { return attrs[id].ValueName(vs.val[id]) }
func (vs *Values) addr(id ID) string { return vs.val[id].Addr.String() }
func (vs *Values) u64(id ID) uint64  { return uint64(vs.val[id].Num) }

// Fill sets the fields of r that come from attributes, the same for the
// listener and the importer. r.Received must be set: without an
// Event-Timestamp (or with one of 0, a NAS without a clock) the event time
// is the receipt time minus Acct-Delay-Time. A status type the spool does
// not keep leaves r.StatusType empty; callers refuse such a request
// (SpoolStatus) in their own words before.
func (vs *Values) Fill(r *spool.Record) {
	if st, ok := vs.Get(AcctStatusType); ok {
		r.StatusType, _ = SpoolStatus(st)
	}
	r.SessionID = vs.text(AcctSessionID)
	r.UserName = vs.text(UserName)
	r.NASIdentifier = vs.text(NASIdentifier)
	if vs.Has(NASPort) {
		r.NASPort = strconv.FormatUint(vs.u64(NASPort), 10)
	}
	r.NASPortID = vs.text(NASPortID)
	if vs.Has(NASPortType) {
		r.NASPortType = vs.name(NASPortType)
	}
	r.CallingStation = vs.text(CallingStationID)
	r.CalledStation = vs.text(CalledStationID)
	if vs.Has(FramedIPAddress) {
		r.FramedIP = vs.addr(FramedIPAddress)
	}
	if vs.Has(AcctTerminateCause) {
		r.TerminateCause = vs.name(AcctTerminateCause)
	}
	if vs.Has(Class) {
		r.Class = hex.EncodeToString([]byte(vs.text(Class)))
	}
	r.HomeServer = vs.text(FreeRADIUSProxiedTo)
	r.DelayTime = int64(vs.num(AcctDelayTime))
	r.SessionTime = int64(vs.num(AcctSessionTime))
	r.InputOctets = Fold(vs.num(AcctInputOctets), vs.num(AcctInputGigawords))
	r.OutputOctets = Fold(vs.num(AcctOutputOctets), vs.num(AcctOutputGigawords))
	r.InputPackets = vs.u64(AcctInputPackets)
	r.OutputPackets = vs.u64(AcctOutputPackets)
	if t := vs.val[EventTimestamp].Time; !t.IsZero() {
		r.EventTime, r.EventStamped = t, true
	} else {
		r.EventTime = r.Received.Add(-time.Duration(r.DelayTime) * time.Second)
	}
	switch {
	case vs.Has(NASIPAddress):
		r.NASIP = vs.addr(NASIPAddress)
	case vs.Has(NASIPv6Address):
		r.NASIP = vs.addr(NASIPv6Address)
	}
}
