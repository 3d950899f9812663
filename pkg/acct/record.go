package acct

import (
	"encoding/hex"
	"fmt"
	"time"

	"layeh.com/radius"

	"roamsettle/pkg/radattr"
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

// toRecord converts an authentic Accounting-Request into a spool record.
// It decodes the attributes the edge keeps (pkg/radattr) and lets
// radattr fill the record, as the importer does with a detail file.
func toRecord(p *radius.Packet, o origin) (spool.Record, error) {
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
	var vs radattr.Values
	for _, avp := range p.Attributes {
		if avp.Type < 0 || avp.Type > 255 {
			continue
		}
		id, ok := radattr.ByNumber(byte(avp.Type))
		if !ok {
			continue // vendor attributes, Proxy-State, ...: not kept in the spool
		}
		v, err := radattr.Decode(id, avp.Attribute)
		if err != nil {
			return r, malformed("%s: %v", id, err)
		}
		if err := vs.Add(id, v); err != nil {
			return r, malformed("%v", err)
		}
	}
	st, ok := vs.Get(radattr.AcctStatusType)
	if !ok {
		return r, malformed("no Acct-Status-Type")
	}
	if _, ok := radattr.SpoolStatus(st); !ok {
		return r, malformed("Acct-Status-Type %d is not Start, Stop, Interim-Update, Accounting-On or Accounting-Off", st.Num)
	}
	vs.Fill(&r)
	if r.SessionID == "" && !r.NASControl() {
		return r, malformed("no Acct-Session-Id in a %s", r.StatusType)
	}
	if err := r.Check(); err != nil {
		return r, malformed("%v", err)
	}
	return r, nil
}
