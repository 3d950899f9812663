// Package spool holds the edge spool: one text file per session, each line
// one accounting record, written under open/ and moved to ready/ when the
// session closes. docs/spool.md describes the format field by field.
package spool

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
)

// Header is the first line of every spool file; the number is the format
// version.
const Header = "#roamspool 1"

// Status types as spool records spell them (RFC 2866 names).
const (
	Start         = "Start"
	Stop          = "Stop"
	Interim       = "Interim-Update"
	AccountingOn  = "Accounting-On"
	AccountingOff = "Accounting-Off"
)

// Record is one accounting record: the patent's accounting fields plus
// what a billing engineer needs to trace it back to its packet.
type Record struct {
	Received       time.Time // when the edge received it (UTC)
	Origin         string    // "radius" or "detail <file>:<line>"
	NAS            string    // configured NAS name
	NASIP          string    // NAS-IP-Address (or NAS-IPv6-Address)
	NASIdentifier  string    // NAS-Identifier
	Source         string    // packet source ip:port
	PacketID       int       // RADIUS Identifier; -1 when not from a packet
	Authenticator  string    // Request Authenticator, hex
	StatusType     string    // Start, Stop, Interim-Update, Accounting-On, Accounting-Off
	SessionID      string    // Acct-Session-Id
	UserName       string    // User-Name as sent
	DelayTime      int64     // Acct-Delay-Time, seconds
	SessionTime    int64     // Acct-Session-Time, seconds
	EventTime      time.Time // Event-Timestamp, or receipt minus delay (UTC)
	EventStamped   bool      // EventTime came from Event-Timestamp
	TimeZone       string    // IANA zone of the local ISP, when configured
	LocalServer    string    // local AAS: the edge's ISP id and address
	HomeServer     string    // home AAS, when known (Proxy or Class)
	NASPort        string
	NASPortID      string
	NASPortType    string
	CallingStation string
	CalledStation  string
	FramedIP       string
	InputOctets    uint64 // with Acct-Input-Gigawords folded in
	OutputOctets   uint64
	InputPackets   uint64
	OutputPackets  uint64
	TerminateCause string
	Class          string // hex
}

// SessionStart is the derived start of the session: event time minus
// session time. It tells apart sessions that reuse an Acct-Session-Id.
func (r *Record) SessionStart() time.Time {
	return r.EventTime.Add(-time.Duration(r.SessionTime) * time.Second)
}

// Closes says whether the record ends its session.
func (r *Record) Closes() bool { return r.StatusType == Stop }

// NASControl says whether it is an Accounting-On/Off (NAS reboot) record.
func (r *Record) NASControl() bool {
	return r.StatusType == AccountingOn || r.StatusType == AccountingOff
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// codec writes and reads one field's value.
type codec struct {
	get func(*Record) string
	set func(*Record, string) error
}

// field is one key of the line format.
type field struct {
	key string
	codec
}

func str(p func(*Record) *string) codec {
	return codec{
		get: func(r *Record) string { return *p(r) },
		set: func(r *Record, v string) error { *p(r) = v; return nil },
	}
}

func intf(p func(*Record) *int64) codec {
	return codec{
		get: func(r *Record) string {
			if *p(r) == 0 {
				return ""
			}
			return strconv.FormatInt(*p(r), 10)
		},
		set: func(r *Record, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a non-negative integer", v)
			}
			*p(r) = n
			return nil
		},
	}
}

func uintf(p func(*Record) *uint64) codec {
	return codec{
		get: func(r *Record) string {
			if *p(r) == 0 {
				return ""
			}
			return strconv.FormatUint(*p(r), 10)
		},
		set: func(r *Record, v string) error {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a non-negative integer", v)
			}
			*p(r) = n
			return nil
		},
	}
}

func timef(p func(*Record) *time.Time) codec {
	return codec{
		get: func(r *Record) string {
			if p(r).IsZero() {
				return ""
			}
			return p(r).UTC().Format(time.RFC3339Nano)
		},
		set: func(r *Record, v string) error {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return fmt.Errorf("%q is not an RFC 3339 time", v)
			}
			*p(r) = t.UTC()
			return nil
		},
	}
}

// fields is the line format, in write order. Adding a field is a
// compatible change; changing a meaning needs a new Header version.
var fields = func() []field {
	f := []field{}
	add := func(key string, c codec) { f = append(f, field{key, c}) }
	add("status_type", str(func(r *Record) *string { return &r.StatusType }))
	add("session_id", str(func(r *Record) *string { return &r.SessionID }))
	add("user_name", str(func(r *Record) *string { return &r.UserName }))
	add("event_time", timef(func(r *Record) *time.Time { return &r.EventTime }))
	add("event_stamped", codec{
		get: func(r *Record) string {
			if r.EventStamped {
				return "1"
			}
			return ""
		},
		set: func(r *Record, v string) error {
			if v != "1" && v != "0" {
				return fmt.Errorf("%q is not 0 or 1", v)
			}
			r.EventStamped = v == "1"
			return nil
		},
	})
	add("session_time", intf(func(r *Record) *int64 { return &r.SessionTime }))
	add("delay_time", intf(func(r *Record) *int64 { return &r.DelayTime }))
	add("received", timef(func(r *Record) *time.Time { return &r.Received }))
	add("nas", str(func(r *Record) *string { return &r.NAS }))
	add("nas_ip", str(func(r *Record) *string { return &r.NASIP }))
	add("nas_identifier", str(func(r *Record) *string { return &r.NASIdentifier }))
	add("source", str(func(r *Record) *string { return &r.Source }))
	add("packet_id", codec{
		get: func(r *Record) string {
			if r.Authenticator == "" {
				return ""
			}
			return strconv.Itoa(r.PacketID)
		},
		set: func(r *Record, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 255 {
				return fmt.Errorf("%q is not a RADIUS identifier 0-255", v)
			}
			r.PacketID = n
			return nil
		},
	})
	add("authenticator", str(func(r *Record) *string { return &r.Authenticator }))
	add("time_zone", str(func(r *Record) *string { return &r.TimeZone }))
	add("local_server", str(func(r *Record) *string { return &r.LocalServer }))
	add("home_server", str(func(r *Record) *string { return &r.HomeServer }))
	add("nas_port", str(func(r *Record) *string { return &r.NASPort }))
	add("nas_port_id", str(func(r *Record) *string { return &r.NASPortID }))
	add("nas_port_type", str(func(r *Record) *string { return &r.NASPortType }))
	add("calling_station_id", str(func(r *Record) *string { return &r.CallingStation }))
	add("called_station_id", str(func(r *Record) *string { return &r.CalledStation }))
	add("framed_ip", str(func(r *Record) *string { return &r.FramedIP }))
	add("input_octets", uintf(func(r *Record) *uint64 { return &r.InputOctets }))
	add("output_octets", uintf(func(r *Record) *uint64 { return &r.OutputOctets }))
	add("input_packets", uintf(func(r *Record) *uint64 { return &r.InputPackets }))
	add("output_packets", uintf(func(r *Record) *uint64 { return &r.OutputPackets }))
	add("terminate_cause", str(func(r *Record) *string { return &r.TerminateCause }))
	add("class", str(func(r *Record) *string { return &r.Class }))
	add("origin", str(func(r *Record) *string { return &r.Origin }))
	return f
}()

var fieldIndex = func() map[string]int {
	m := map[string]int{}
	for i, f := range fields {
		m[f.key] = i
	}
	return m
}()

// AppendLine appends r as one spool line (with its CRC and the LF).
func (r *Record) AppendLine(buf []byte) []byte {
	start := len(buf)
	first := true
	for _, f := range fields {
		v := f.get(r)
		if v == "" {
			continue
		}
		if !first {
			buf = append(buf, '\t')
		}
		first = false
		buf = append(buf, f.key...)
		buf = append(buf, '=')
		buf = appendEscaped(buf, v)
	}
	sum := crc32.Checksum(buf[start:], crcTable)
	buf = append(buf, "\tcrc="...)
	buf = fmt.Appendf(buf, "%08x", sum)
	return append(buf, '\n')
}

// FieldError says which field of a line is wrong.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrCRC is a line whose checksum does not match: a torn or altered line.
var ErrCRC = errors.New("checksum mismatch (torn or altered line)")

// ParseLine reads one spool line (without its LF) into a record.
func ParseLine(line []byte) (Record, error) {
	var r Record
	i := bytes.LastIndex(line, []byte("\tcrc="))
	if i < 0 {
		return r, &FieldError{"crc", errors.New("missing")}
	}
	want, err := strconv.ParseUint(string(line[i+5:]), 16, 32)
	if err != nil || len(line)-i-5 != 8 {
		return r, &FieldError{"crc", fmt.Errorf("%q is not 8 hex digits", line[i+5:])}
	}
	body := line[:i]
	if crc32.Checksum(body, crcTable) != uint32(want) {
		return r, &FieldError{"crc", ErrCRC}
	}
	seen := make([]bool, len(fields))
	for len(body) > 0 {
		var part []byte
		if j := bytes.IndexByte(body, '\t'); j >= 0 {
			part, body = body[:j], body[j+1:]
		} else {
			part, body = body, nil
		}
		k, v, ok := bytes.Cut(part, []byte{'='})
		if !ok {
			return r, &FieldError{string(k), errors.New("missing '='")}
		}
		idx, known := fieldIndex[string(k)]
		if !known {
			return r, &FieldError{string(k), errors.New("unknown field")}
		}
		if seen[idx] {
			return r, &FieldError{string(k), errors.New("given twice")}
		}
		seen[idx] = true
		val, err := unescape(v)
		if err != nil {
			return r, &FieldError{string(k), err}
		}
		if err := fields[idx].set(&r, val); err != nil {
			return r, &FieldError{string(k), err}
		}
	}
	return r, r.check()
}

// check enforces what every record must have.
func (r *Record) check() error {
	switch r.StatusType {
	case Start, Stop, Interim, AccountingOn, AccountingOff:
	case "":
		return &FieldError{"status_type", errors.New("missing")}
	default:
		return &FieldError{"status_type", fmt.Errorf("%q is not a known status type", r.StatusType)}
	}
	if r.EventTime.IsZero() {
		return &FieldError{"event_time", errors.New("missing")}
	}
	if r.Received.IsZero() {
		return &FieldError{"received", errors.New("missing")}
	}
	if r.NAS == "" {
		return &FieldError{"nas", errors.New("missing")}
	}
	if r.SessionID == "" && !r.NASControl() {
		return &FieldError{"session_id", errors.New("missing")}
	}
	return nil
}

// Check returns an error when r could not be read back from its line.
func (r *Record) Check() error { return r.check() }

const hexDigits = "0123456789ABCDEF"

// appendEscaped writes v with %XX for '%' and every control byte, so a
// value never contains the tab or LF that frame fields and lines.
func appendEscaped(buf []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' || c < 0x20 || c == 0x7f {
			buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		buf = append(buf, c)
	}
	return buf
}

func unescape(v []byte) (string, error) {
	if bytes.IndexByte(v, '%') < 0 {
		return string(v), nil
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			out = append(out, v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", errors.New("truncated %-escape")
		}
		n, err := strconv.ParseUint(string(v[i+1:i+3]), 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad %%-escape %q", v[i:i+3])
		}
		out = append(out, byte(n))
		i += 2
	}
	return string(out), nil
}

// hex8 is the CRC of a line body as written after "crc=".
func hex8(body []byte) string { return fmt.Sprintf("%08x", crc32.Checksum(body, crcTable)) }
