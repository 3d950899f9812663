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

// Status types by RFC 2866 value; "Alive" is FreeRADIUS 1.x's name for 3.
var statusTypes = map[string]string{
	"1": spool.Start, "2": spool.Stop, "3": spool.Interim, "7": spool.AccountingOn, "8": spool.AccountingOff,
	"start": spool.Start, "stop": spool.Stop, "interim-update": spool.Interim, "alive": spool.Interim,
	"accounting-on": spool.AccountingOn, "accounting-off": spool.AccountingOff,
}

// terminateCauses are the RFC 2866/3580 names by value.
var terminateCauses = []string{1: "User-Request", "Lost-Carrier", "Lost-Service", "Idle-Timeout",
	"Session-Timeout", "Admin-Reset", "Admin-Reboot", "Port-Error", "NAS-Error", "NAS-Request",
	"NAS-Reboot", "Port-Unneeded", "Port-Preempted", "Port-Suspended", "Service-Unavailable",
	"Callback", "User-Error", "Host-Request", "Supplicant-Restart", "Reauthentication-Failure",
	"Port-Reinitialized", "Port-Administratively-Disabled"}

// portTypes are the RFC 2865 (and later) NAS-Port-Type names by value.
var portTypes = []string{0: "Async", "Sync", "ISDN", "ISDN-V120", "ISDN-V110", "Virtual", "PIAFS",
	"HDLC-Clear-Channel", "X.25", "X.75", "G.3-Fax", "SDSL", "ADSL-CAP", "ADSL-DMT", "IDSL",
	"Ethernet", "xDSL", "Cable", "Wireless-Other", "Wireless-802.11", "Token-Ring", "FDDI",
	"Wireless-CDMA2000", "Wireless-UMTS", "Wireless-1X-EV", "IAPP", "FTTP", "Wireless-802.16",
	"Wireless-802.20", "Wireless-802.22", "PPPoA", "PPPoEoA", "PPPoEoE", "PPPoEoVLAN",
	"PPPoEoQinQ", "xPON", "Wireless-XGP"}

// enumName returns the canonical name of an enumerated value written as a
// name or a number; an unknown number is kept as the number.
func enumName(names []string, v string) (string, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		if n < uint64(len(names)) && names[n] != "" {
			return names[n], nil
		}
		return strconv.FormatUint(n, 10), nil
	}
	for _, name := range names {
		if name != "" && strings.EqualFold(name, v) {
			return name, nil
		}
	}
	if v == "" || strings.ContainsAny(v, " \t\"") {
		return "", fmt.Errorf("%q is not a name or number", v)
	}
	return v, nil // a vendor's name FreeRADIUS knows and we do not: keep it
}

func fieldErr(a Attr, format string, args ...any) error {
	return &Error{Line: a.Line, Field: a.Name, Err: fmt.Errorf(format, args...)}
}

// Record maps one parsed entry to a spool record. origin is the file name
// used in the record's origin. Errors are *Error naming the line and
// attribute (File is left for the caller to fill in).
func (m *Mapper) Record(e *Entry, origin string) (spool.Record, error) {
	r := spool.Record{
		Origin:      fmt.Sprintf("detail %s:%d", origin, e.Line),
		PacketID:    -1,
		LocalServer: m.ISP + " detail",
		TimeZone:    m.Name,
	}
	seen := map[string]Attr{}
	var (
		srcIP                        []netip.Addr
		nasIP                        []netip.Addr
		srcPort                      string
		inOct, outOct, inGig, outGig uint64
		received, event              time.Time
		haveReceived                 bool
	)
	for _, a := range e.Attrs {
		key := strings.ToLower(a.Name)
		if _, ok := kept[key]; !ok {
			continue // Acct-Unique-Session-Id, vendor attributes, ...: not kept in the spool
		}
		if prev, dup := seen[key]; dup {
			if prev.Value != a.Value && key != "class" {
				return r, fieldErr(a, "given twice with different values (%q on line %d, %q here)", prev.Value, prev.Line, a.Value)
			}
			continue
		}
		seen[key] = a
		var err error
		v := a.Value
		switch key {
		case "acct-status-type":
			st, ok := statusTypes[strings.ToLower(v)]
			if !ok {
				return r, fieldErr(a, "%q is not a status type the spool keeps (Start, Stop, Interim-Update, Accounting-On, Accounting-Off)", v)
			}
			r.StatusType = st
		case "acct-session-id":
			r.SessionID = v
		case "user-name":
			r.UserName = v
		case "nas-identifier":
			r.NASIdentifier = v
		case "nas-port":
			var n uint64
			n, err = parseUint32(v)
			r.NASPort = strconv.FormatUint(n, 10)
		case "nas-port-id":
			r.NASPortID = v
		case "nas-port-type":
			r.NASPortType, err = enumName(portTypes, v)
		case "calling-station-id":
			r.CallingStation = v
		case "called-station-id":
			r.CalledStation = v
		case "framed-ip-address":
			var ip netip.Addr
			ip, err = netip.ParseAddr(v)
			r.FramedIP = ip.String()
		case "acct-terminate-cause":
			r.TerminateCause, err = enumName(terminateCauses, v)
		case "class":
			r.Class, err = octets(a)
		case "freeradius-proxied-to":
			r.HomeServer = v
		case "acct-delay-time":
			var n uint64
			n, err = parseUint32(v)
			r.DelayTime = int64(n)
		case "acct-session-time":
			var n uint64
			n, err = parseUint32(v)
			r.SessionTime = int64(n)
		case "acct-input-octets":
			inOct, err = parseUint32(v)
		case "acct-output-octets":
			outOct, err = parseUint32(v)
		case "acct-input-gigawords":
			inGig, err = parseUint32(v)
		case "acct-output-gigawords":
			outGig, err = parseUint32(v)
		case "acct-input-packets":
			r.InputPackets, err = parseUint32(v)
		case "acct-output-packets":
			r.OutputPackets, err = parseUint32(v)
		case "event-timestamp":
			event, err = m.parseDate(a)
		case "timestamp":
			var n int64
			n, err = strconv.ParseInt(v, 10, 64)
			if err == nil && (n <= 0 || n > maxUnix) {
				err = fmt.Errorf("%d is out of range", n)
			}
			received, haveReceived = time.Unix(n, 0).UTC(), true
		case "nas-ip-address", "nas-ipv6-address":
			var ip netip.Addr
			ip, err = netip.ParseAddr(v)
			nasIP = append(nasIP, ip.Unmap())
			if r.NASIP == "" {
				r.NASIP = ip.String()
			}
		case "client-ip-address", "packet-src-ip-address", "packet-src-ipv6-address", "freeradius-client-ip-address":
			var ip netip.Addr
			ip, err = netip.ParseAddr(v)
			srcIP = append(srcIP, ip.Unmap())
		case "packet-src-port":
			var n uint64
			n, err = parseUint32(v)
			if err == nil && n > 65535 {
				err = fmt.Errorf("%d is not a port", n)
			}
			srcPort = v
		}
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) {
				return r, err
			}
			return r, fieldErr(a, "%v", err)
		}
	}
	if r.StatusType == "" {
		return r, &Error{Line: e.Line, Field: "Acct-Status-Type", Err: errors.New("missing")}
	}
	if r.SessionID == "" && !r.NASControl() {
		return r, &Error{Line: e.Line, Field: "Acct-Session-Id", Err: errors.New("missing")}
	}
	if !haveReceived {
		// Timestamp is FreeRADIUS's receipt time; the header says the same
		// to the second in the server's local time, which we take to be
		// the edge's zone.
		t, err := time.ParseInLocation(time.ANSIC, strings.TrimSpace(e.Header), m.Zone)
		if err != nil {
			return r, &Error{Line: e.Line, Field: "Timestamp", Err: errors.New("missing, and the header is not a ctime date to fall back on")}
		}
		received = t.UTC()
	}
	r.Received = received
	if !event.IsZero() {
		r.EventTime, r.EventStamped = event, true
	} else {
		r.EventTime = received.Add(-time.Duration(r.DelayTime) * time.Second)
	}
	r.InputOctets = inGig<<32 | inOct
	r.OutputOctets = outGig<<32 | outOct
	if len(srcIP) > 0 {
		r.Source = srcIP[0].String()
		if srcPort != "" {
			p, _ := strconv.ParseUint(srcPort, 10, 16)
			r.Source = netip.AddrPortFrom(srcIP[0], uint16(p)).String()
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

// kept lists the attributes Record reads (lower case).
var kept = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{"acct-status-type", "acct-session-id", "user-name", "nas-identifier",
		"nas-port", "nas-port-id", "nas-port-type", "calling-station-id", "called-station-id",
		"framed-ip-address", "acct-terminate-cause", "class", "freeradius-proxied-to",
		"acct-delay-time", "acct-session-time", "acct-input-octets", "acct-output-octets",
		"acct-input-gigawords", "acct-output-gigawords", "acct-input-packets", "acct-output-packets",
		"event-timestamp", "timestamp", "nas-ip-address", "nas-ipv6-address", "client-ip-address",
		"packet-src-ip-address", "packet-src-ipv6-address", "freeradius-client-ip-address", "packet-src-port"} {
		m[k] = true
	}
	return m
}()

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

func parseUint32(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an unsigned 32-bit integer", v)
	}
	return n, nil
}

// octets returns an octets value as lower-case hex: FreeRADIUS writes
// 0x... for binary values and a quoted string for printable ones.
func octets(a Attr) (string, error) {
	if a.Quoted {
		return hex.EncodeToString([]byte(a.Value)), nil
	}
	h, ok := strings.CutPrefix(strings.ToLower(a.Value), "0x")
	if !ok {
		return hex.EncodeToString([]byte(a.Value)), nil
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("%q is not hex octets", a.Value)
	}
	return hex.EncodeToString(b), nil
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
