package detail

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/radattr"
	"roamsettle/pkg/spool"
)

// Mapper turns detail records into spool records for one edge.
type Mapper struct {
	ISP  string
	NAS  []config.NAS
	Zone *time.Location // the edge's time zone: reads zone names in dates and the header fallback
	Name string         // zone name recorded in spool records ("" when not configured)
}

// NewMapper makes the Mapper of an edge configuration.
func NewMapper(edge *config.Edge) (*Mapper, error) {
	m := &Mapper{ISP: edge.ISP, NAS: edge.NAS, Zone: time.UTC, Name: edge.Timezone}
	if edge.Timezone != "" {
		loc, err := time.LoadLocation(edge.Timezone)
		if err != nil {
			return nil, fmt.Errorf("edge timezone %q: %w", edge.Timezone, err)
		}
		m.Zone = loc
	}
	return m, nil
}

func fieldErr(a Attr, format string, args ...any) error {
	return &Error{Line: a.Line, Field: a.Name, Err: fmt.Errorf(format, args...)}
}

// Record maps one parsed entry to a spool record. origin is the file name
// used in the record's origin. Errors are *Error naming the line and
// attribute (File is left for the caller to fill in). It decodes the
// attributes the edge keeps (pkg/radattr) from their detail-file text and
// lets radattr fill the record, as the listener does with a packet.
func (m *Mapper) Record(e *Entry, origin string) (spool.Record, error) {
	r := spool.Record{
		Origin:      fmt.Sprintf("detail %s:%d", origin, e.Line),
		PacketID:    -1,
		LocalServer: m.ISP + " detail",
		TimeZone:    m.Name,
	}
	var (
		vs    radattr.Values
		first [radattr.Count]*Attr // where each attribute was first given, for messages
		// The packet's source and the NAS's own addresses, in the order
		// the file gives them: the first that is a configured NAS names it.
		srcIP, nasIP []netip.Addr
	)
	for i := range e.Attrs {
		a := &e.Attrs[i]
		id, ok := radattr.ByName(a.Name)
		if !ok {
			if id, raw := rawAttr(a.Name); raw {
				// The listener refuses such a packet: so does the importer.
				return r, fieldErr(*a, "%s that FreeRADIUS could not decode (wrong length?), written raw", id)
			}
			continue // Acct-Unique-Session-Id, vendor attributes, ...: not kept in the spool
		}
		v, err := m.decode(id, a)
		if err != nil {
			return r, fieldErr(*a, "%v", err)
		}
		if err := vs.Add(id, v); err != nil {
			p := first[id]
			return r, fieldErr(*a, "given twice with different values (%q on line %d, %q here)", p.Value, p.Line, a.Value)
		}
		if first[id] != nil {
			continue // the same value again
		}
		first[id] = a
		switch id {
		case radattr.NASIPAddress, radattr.NASIPv6Address:
			nasIP = append(nasIP, v.Addr.Unmap())
		case radattr.ClientIPAddress, radattr.PacketSrcIPAddress, radattr.PacketSrcIPv6Address, radattr.FreeRADIUSClientIPAddress:
			srcIP = append(srcIP, v.Addr.Unmap())
		}
	}
	if !vs.Has(radattr.AcctStatusType) {
		return r, &Error{Line: e.Line, Field: "Acct-Status-Type", Err: errors.New("missing")}
	}
	if ts, ok := vs.Get(radattr.Timestamp); ok {
		r.Received = ts.Time
	} else {
		// Timestamp is FreeRADIUS's receipt time; the header says the same
		// to the second in the server's local time, which we take to be
		// the edge's zone.
		t, err := time.ParseInLocation(time.ANSIC, strings.TrimSpace(e.Header), m.Zone)
		if err != nil {
			return r, &Error{Line: e.Line, Field: "Timestamp", Err: errors.New("missing, and the header is not a ctime date to fall back on")}
		}
		r.Received = t.UTC()
	}
	vs.Fill(&r)
	if r.SessionID == "" && !r.NASControl() {
		return r, &Error{Line: e.Line, Field: "Acct-Session-Id", Err: errors.New("missing")}
	}
	if len(srcIP) > 0 {
		r.Source = srcIP[0].String()
		if port, ok := vs.Get(radattr.PacketSrcPort); ok {
			r.Source = netip.AddrPortFrom(srcIP[0], uint16(port.Num)).String()
		}
	}
	name, ok := m.nasOf(srcIP)
	if !ok {
		name, ok = m.nasOf(nasIP)
	}
	if !ok {
		var addrs []string
		for _, ip := range append(srcIP, nasIP...) {
			addrs = append(addrs, ip.String())
		}
		if len(addrs) == 0 {
			return r, &Error{Line: e.Line, Field: "NAS-IP-Address", Err: errors.New("missing (and no Client-IP-Address or Packet-Src-IP-Address): cannot tell the NAS")}
		}
		return r, &Error{Line: e.Line, Field: "NAS-IP-Address", Err: fmt.Errorf("no [[edge.nas]] has address %s", strings.Join(addrs, " or "))}
	}
	r.NAS = name
	if err := r.Check(); err != nil {
		return r, &Error{Line: e.Line, Err: err}
	}
	return r, nil
}

// decode reads an attribute's value as FreeRADIUS writes it in a detail
// file: the text of its Kind, and for Acct-Status-Type only the five
// status types the spool keeps.
func (m *Mapper) decode(id radattr.ID, a *Attr) (radattr.Value, error) {
	attr := id.Attr()
	v := a.Value
	switch id {
	case radattr.AcctStatusType:
		n, err := enumValue(attr, v)
		st := radattr.Value{Num: n}
		if _, kept := radattr.SpoolStatus(st); err != nil || !kept {
			return st, fmt.Errorf("%q is not a status type the spool keeps (%s)", v, radattr.SpoolStatuses)
		}
		return st, nil
	case radattr.Timestamp: // the receipt time: seconds only, and never 0
		n, err := strconv.ParseInt(v, 10, 64)
		if err == nil && (n <= 0 || n > maxUnix) {
			err = fmt.Errorf("%d is out of range", n)
		}
		return radattr.Value{Time: time.Unix(n, 0).UTC()}, err
	case radattr.PacketSrcPort:
		n, err := parseUint32(v)
		if err == nil && n > 65535 {
			err = fmt.Errorf("%d is not a port", n)
		}
		return radattr.Value{Num: n}, err
	}
	switch attr.Kind {
	case radattr.String:
		return radattr.Value{Text: v}, nil
	case radattr.Integer:
		n, err := parseUint32(v)
		return radattr.Value{Num: n}, err
	case radattr.Enum:
		n, err := enumValue(attr, v)
		if errors.Is(err, errUnknownName) {
			return radattr.Value{Text: v}, nil // a vendor's name FreeRADIUS knows and we do not: keep it
		}
		return radattr.Value{Num: n}, err
	case radattr.Date:
		t, err := m.parseDate(*a)
		return radattr.Value{Time: t}, err
	case radattr.Address:
		ip, err := netip.ParseAddr(v)
		return radattr.Value{Addr: ip}, err
	case radattr.Octets:
		b, err := octets(*a)
		return radattr.Value{Text: string(b)}, err
	}
	return radattr.Value{}, fmt.Errorf("no decoder for %s", attr.Name)
}

// rawAttr says whether name is how FreeRADIUS writes an attribute it
// could not decode, "Attr-<number>", of an attribute the spool keeps.
func rawAttr(name string) (radattr.ID, bool) {
	if len(name) < 6 || !strings.EqualFold(name[:5], "Attr-") {
		return 0, false
	}
	n, err := strconv.ParseUint(name[5:], 10, 8)
	if err != nil {
		return 0, false // Attr-26.9.1 and the like: vendor attributes
	}
	return radattr.ByNumber(byte(n))
}

// errUnknownName is an enumerated value written as a name the table does
// not have.
var errUnknownName = errors.New("not a name the attribute table knows")

// enumValue reads an enumerated value written as a number or a name.
func enumValue(attr radattr.Attr, v string) (uint32, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return uint32(n), nil
	}
	if n, ok := attr.EnumValue(v); ok {
		return n, nil
	}
	if v == "" || strings.ContainsAny(v, " \t\"") {
		return 0, fmt.Errorf("%q is not a name or number", v)
	}
	return 0, errUnknownName
}

func (m *Mapper) nasOf(ips []netip.Addr) (string, bool) {
	for _, ip := range ips {
		for _, n := range m.NAS {
			if n.Address.Unmap() == ip {
				return n.Name, true
			}
		}
	}
	return "", false
}

// maxUnix bounds times to year 9999, which RFC 3339 can write.
const maxUnix = 253402300799

func parseUint32(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an unsigned 32-bit integer", v)
	}
	return uint32(n), nil
}

// octets returns the bytes of an octets value: FreeRADIUS writes 0x...
// for binary values and a quoted string for printable ones.
func octets(a Attr) ([]byte, error) {
	if a.Quoted {
		return []byte(a.Value), nil
	}
	h, ok := strings.CutPrefix(strings.ToLower(a.Value), "0x")
	if !ok {
		return []byte(a.Value), nil
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%q is not hex octets", a.Value)
	}
	return b, nil
}

// dateLayouts are how FreeRADIUS versions write a date attribute: 3.x
// "%b %e %Y %H:%M:%S %Z" (UTC or the server's zone name), with a numeric
// offset when asked, and RFC 3339 in 4.x.
var dateLayouts = []string{
	"Jan _2 2006 15:04:05 MST",
	"Jan _2 2006 15:04:05 -0700",
	"Jan _2 2006 15:04:05 MST -0700",
	time.RFC3339Nano,
}

// parseDate reads a date attribute: an integer (seconds since 1970) or a
// quoted date. The zero time (a NAS without a clock sends 0) is returned as
// the zero time.Time, as if the attribute were absent. A zone abbreviation other than UTC/GMT is accepted only
// when it names the edge's zone at that time, since abbreviations such as
// EST or IST are ambiguous.
func (m *Mapper) parseDate(a Attr) (time.Time, error) {
	v := a.Value
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || !a.Quoted {
		if err != nil || n < 0 || n > maxUnix {
			return time.Time{}, fmt.Errorf("%q is not a date (seconds since 1970 or a quoted date)", v)
		}
		if n == 0 {
			return time.Time{}, nil // a NAS without a clock: as if absent
		}
		return time.Unix(n, 0).UTC(), nil
	}
	for _, layout := range dateLayouts {
		t, err := time.ParseInLocation(layout, v, m.Zone)
		if err != nil {
			continue
		}
		if t.Unix() == 0 {
			return time.Time{}, nil // Event-Timestamp = 0 as FreeRADIUS prints it: no clock
		}
		if t.Unix() < 0 || t.Year() > 9999 {
			return time.Time{}, fmt.Errorf("%q is out of range", v)
		}
		if layout == dateLayouts[0] {
			abbr, off := t.Zone()
			if abbr != "UTC" && abbr != "GMT" && off == 0 && t.Location() != m.Zone {
				// Go made up a zero-offset zone for a name it did not know.
				return time.Time{}, fmt.Errorf("%q: zone %q is not UTC, GMT or the edge's time zone (%s); set [edge] timezone or have FreeRADIUS write UTC", v, abbr, m.Zone)
			}
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date FreeRADIUS writes (e.g. \"Jun 30 2026 18:43:35 UTC\")", v)
}
