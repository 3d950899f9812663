package acct

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"

	"roamsettle/pkg/spool"
)

// origin is what the listener knows about a packet beyond its bytes.
type origin struct {
	NAS      string    // configured NAS name
	Source   string    // ip:port the packet came from
	TimeZone string    // [edge] timezone
	Local    string    // "<isp> <listen address>"
	Received time.Time // receipt time
}

// MalformedError is an authentic Accounting-Request that cannot become a
// spool record; it is dropped unanswered so the NAS keeps it.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed accounting request: " + e.Reason }

func malformed(format string, args ...any) error {
	return &MalformedError{fmt.Sprintf(format, args...)}
}

// statusNames maps the Acct-Status-Type values the spool format knows.
var statusNames = map[rfc2866.AcctStatusType]string{
	rfc2866.AcctStatusType_Value_Start:         spool.Start,
	rfc2866.AcctStatusType_Value_Stop:          spool.Stop,
	rfc2866.AcctStatusType_Value_InterimUpdate: spool.Interim,
	rfc2866.AcctStatusType_Value_AccountingOn:  spool.AccountingOn,
	rfc2866.AcctStatusType_Value_AccountingOff: spool.AccountingOff,
}

// decoder collects the first attribute that is present but badly encoded.
type decoder struct{ err error }

// get looks an attribute up with one of layeh's generated *_Lookup
// functions; absent is not an error, a wrong encoding is.
func get[T any](d *decoder, p *radius.Packet, name string, lookup func(*radius.Packet) (T, error)) (T, bool) {
	v, err := lookup(p)
	switch {
	case err == nil:
		return v, true
	case errors.Is(err, radius.ErrNoAttribute):
	default:
		if d.err == nil {
			d.err = malformed("%s: %v", name, err)
		}
	}
	var zero T
	return zero, false
}

// toRecord converts an authentic Accounting-Request into a spool record.
func toRecord(p *radius.Packet, o origin) (spool.Record, error) {
	var d decoder
	r := spool.Record{
		Received:      o.Received.UTC(),
		Origin:        "radius",
		NAS:           o.NAS,
		Source:        o.Source,
		PacketID:      int(p.Identifier),
		Authenticator: hex.EncodeToString(p.Authenticator[:]),
		TimeZone:      o.TimeZone,
		LocalServer:   o.Local,
	}
	st, ok := get(&d, p, "Acct-Status-Type", rfc2866.AcctStatusType_Lookup)
	if d.err != nil {
		return r, d.err
	}
	if !ok {
		return r, malformed("no Acct-Status-Type")
	}
	if r.StatusType, ok = statusNames[st]; !ok {
		return r, malformed("Acct-Status-Type %d is not Start, Stop, Interim-Update, Accounting-On or Accounting-Off", uint32(st))
	}
	r.SessionID, _ = get(&d, p, "Acct-Session-Id", rfc2866.AcctSessionID_LookupString)
	if r.SessionID == "" && !r.NASControl() {
		return r, malformed("no Acct-Session-Id in a %s", r.StatusType)
	}
	r.UserName, _ = get(&d, p, "User-Name", rfc2865.UserName_LookupString)

	delay, _ := get(&d, p, "Acct-Delay-Time", rfc2866.AcctDelayTime_Lookup)
	r.DelayTime = int64(delay)
	sess, _ := get(&d, p, "Acct-Session-Time", rfc2866.AcctSessionTime_Lookup)
	r.SessionTime = int64(sess)
	if ts, ok := get(&d, p, "Event-Timestamp", rfc2869.EventTimestamp_Lookup); ok {
		r.EventTime, r.EventStamped = ts.UTC(), true
	} else {
		r.EventTime = r.Received.Add(-time.Duration(delay) * time.Second)
	}

	if ip, ok := get(&d, p, "NAS-IP-Address", rfc2865.NASIPAddress_Lookup); ok {
		r.NASIP = ip.String()
	} else if ip, ok := get(&d, p, "NAS-IPv6-Address", rfc3162.NASIPv6Address_Lookup); ok {
		r.NASIP = ip.String()
	}
	r.NASIdentifier, _ = get(&d, p, "NAS-Identifier", rfc2865.NASIdentifier_LookupString)
	if port, ok := get(&d, p, "NAS-Port", rfc2865.NASPort_Lookup); ok {
		r.NASPort = strconv.FormatUint(uint64(port), 10)
	}
	r.NASPortID, _ = get(&d, p, "NAS-Port-Id", rfc2869.NASPortID_LookupString)
	if pt, ok := get(&d, p, "NAS-Port-Type", rfc2865.NASPortType_Lookup); ok {
		r.NASPortType = name(rfc2865.NASPortType_Strings[pt], uint32(pt))
	}
	r.CallingStation, _ = get(&d, p, "Calling-Station-Id", rfc2865.CallingStationID_LookupString)
	r.CalledStation, _ = get(&d, p, "Called-Station-Id", rfc2865.CalledStationID_LookupString)
	if ip, ok := get(&d, p, "Framed-IP-Address", rfc2865.FramedIPAddress_Lookup); ok {
		r.FramedIP = ip.String()
	}
	r.InputOctets = octets(&d, p, "Acct-Input", rfc2866.AcctInputOctets_Lookup, rfc2869.AcctInputGigawords_Lookup)
	r.OutputOctets = octets(&d, p, "Acct-Output", rfc2866.AcctOutputOctets_Lookup, rfc2869.AcctOutputGigawords_Lookup)
	if n, ok := get(&d, p, "Acct-Input-Packets", rfc2866.AcctInputPackets_Lookup); ok {
		r.InputPackets = uint64(n)
	}
	if n, ok := get(&d, p, "Acct-Output-Packets", rfc2866.AcctOutputPackets_Lookup); ok {
		r.OutputPackets = uint64(n)
	}
	if tc, ok := get(&d, p, "Acct-Terminate-Cause", rfc2866.AcctTerminateCause_Lookup); ok {
		r.TerminateCause = name(rfc2866.AcctTerminateCause_Strings[tc], uint32(tc))
	}
	if c, ok := get(&d, p, "Class", rfc2865.Class_Lookup); ok {
		r.Class = hex.EncodeToString(c)
	}
	if d.err != nil {
		return r, d.err
	}
	if err := r.Check(); err != nil {
		return r, malformed("%v", err)
	}
	return r, nil
}

// name is an enumerated value's RFC name, or its number when the RFCs
// have none (a vendor value): the number is still worth keeping.
func name(known string, v uint32) string {
	if known != "" {
		return known
	}
	return strconv.FormatUint(uint64(v), 10)
}

// octets folds the 32-bit counter and its Gigawords (RFC 2869) into one.
func octets[O, G ~uint32](d *decoder, p *radius.Packet, prefix string,
	lo func(*radius.Packet) (O, error), hi func(*radius.Packet) (G, error)) uint64 {
	o, _ := get(d, p, prefix+"-Octets", lo)
	g, _ := get(d, p, prefix+"-Gigawords", hi)
	return uint64(g)<<32 | uint64(o)
}
