package store

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"roamsettle/pkg/nai"
	"roamsettle/pkg/spool"
)

// RecordStatusLoaded is record_status of a row roamload wrote; roamclean
// sets it to what became of the record.
const RecordStatusLoaded = "loaded"

// RawColumns are the raw table's columns in the order Row.Values gives
// them (and the order of the table in docs/schema.md).
var RawColumns = []string{
	"entry_id", "user_name", "user_domain", "status_type", "session_id", "session_time", "delay_time",
	"nas_id", "local_aas_id", "home_aas_id", "stop_time_gmt", "stop_time_local", "time_zone",
	"create_date", "history_time", "record_status", "pair_status",
	"user_name_sent", "event_stamped", "nas_ip", "nas_identifier", "source", "packet_id", "authenticator",
	"nas_port", "nas_port_id", "nas_port_type", "calling_station_id", "called_station_id", "framed_ip",
	"input_octets", "output_octets", "input_packets", "output_packets", "terminate_cause", "class", "origin",
	"batch_id", "member_id", "line", "problem",
}

// Row is one raw row as stored. Empty strings are stored as NULL: the
// spool leaves empty values out, so "" means "not sent".
type Row struct {
	EntryID        int64
	UserName       string // user part of the User-Name (nai.Split)
	UserDomain     string // realm part, case as sent
	StatusType     string
	SessionID      string
	SessionTime    int64
	DelayTime      int64
	NASID          string
	LocalAASID     string
	HomeAASID      string
	StopTimeGMT    string
	StopTimeLocal  string
	TimeZone       string
	CreateDate     string
	RecordStatus   string
	UserNameSent   string
	EventStamped   int64
	NASIP          string
	NASIdentifier  string
	Source         string
	PacketID       int64 // -1: not from a packet (NULL)
	Authenticator  string
	NASPort        string
	NASPortID      string
	NASPortType    string
	CallingStation string
	CalledStation  string
	FramedIP       string
	InputOctets    int64 // NullCounter: did not fit (see Problem)
	OutputOctets   int64
	InputPackets   int64
	OutputPackets  int64
	TerminateCause string
	Class          string
	Origin         string
	BatchID        int64
	MemberID       int64
	Line           int64
	Problem        string // what of the record the row cannot hold; "" when all fits
}

// NullCounter marks a counter stored as NULL because its value does not
// fit SQLite's signed 64-bit integer (Row.Problem says which and why).
const NullCounter = -1

// Zones caches time zones by name: loading one from the embedded tz
// database per record would dominate the load.
type Zones map[string]*time.Location

func (z Zones) get(name string) *time.Location {
	if loc, ok := z[name]; ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil // an unknown zone gives no local time; roamclean judges it
	}
	z[name] = loc
	return loc
}

// counter is a spool counter as stored: itself, or NullCounter with the
// problem added when it is beyond SQLite's largest integer. A 64-bit
// counter (octets with gigawords) can legally be that large, so this is
// the record's problem, for roamclean to judge (BAD_COUNTER), never the
// batch's: the batch loads.
func (r *Row) counter(name string, v uint64) int64 {
	if v <= math.MaxInt64 {
		return int64(v)
	}
	if r.Problem != "" {
		r.Problem += "; "
	}
	r.Problem += fmt.Sprintf("%s %d is larger than the largest integer SQLite holds (%d): stored as NULL", name, v, int64(math.MaxInt64))
	return NullCounter
}

// Fill sets r from rec: the patent's fields, the spool's extra fields, and
// record status "loaded"; a value the row cannot hold is recorded in
// Problem. Lineage and entry id are the caller's.
func (r *Row) Fill(rec *spool.Record, zones Zones) {
	r.Problem = ""
	r.InputOctets = r.counter("input_octets", rec.InputOctets)
	r.OutputOctets = r.counter("output_octets", rec.OutputOctets)
	r.InputPackets = r.counter("input_packets", rec.InputPackets)
	r.OutputPackets = r.counter("output_packets", rec.OutputPackets)
	r.UserName, r.UserDomain = nai.Split(rec.UserName)
	r.StatusType = rec.StatusType
	r.SessionID = rec.SessionID
	r.SessionTime = rec.SessionTime
	r.DelayTime = rec.DelayTime
	r.NASID = rec.NAS
	r.LocalAASID = rec.LocalServer
	r.HomeAASID = rec.HomeServer
	r.StopTimeGMT = FormatTime(rec.EventTime)
	r.StopTimeLocal = ""
	r.TimeZone = rec.TimeZone
	if rec.TimeZone != "" {
		if loc := zones.get(rec.TimeZone); loc != nil {
			r.StopTimeLocal = FormatLocal(rec.EventTime, loc)
		}
	}
	r.CreateDate = FormatTime(rec.Received)
	r.RecordStatus = RecordStatusLoaded
	r.UserNameSent = rec.UserName
	r.EventStamped = 0
	if rec.EventStamped {
		r.EventStamped = 1
	}
	r.NASIP = rec.NASIP
	r.NASIdentifier = rec.NASIdentifier
	r.Source = rec.Source
	r.PacketID = -1
	if rec.Authenticator != "" { // the spool keeps packet_id only beside an authenticator
		r.PacketID = int64(rec.PacketID)
	}
	r.Authenticator = rec.Authenticator
	r.NASPort = rec.NASPort
	r.NASPortID = rec.NASPortID
	r.NASPortType = rec.NASPortType
	r.CallingStation = rec.CallingStation
	r.CalledStation = rec.CalledStation
	r.FramedIP = rec.FramedIP
	r.TerminateCause = rec.TerminateCause
	r.Class = rec.Class
	r.Origin = rec.Origin
}

func counterValue(v int64) any {
	if v == NullCounter {
		return nil
	}
	return v
}

func counterText(v int64) string {
	if v == NullCounter {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Values appends the row's values to dst in RawColumns order, with NULL
// (nil) for values not sent and for the columns later stages fill.
func (r *Row) Values(dst []any) []any {
	var pid any
	if r.PacketID >= 0 {
		pid = r.PacketID
	}
	return append(dst,
		r.EntryID, text(r.UserName), text(r.UserDomain), r.StatusType, text(r.SessionID), r.SessionTime, r.DelayTime,
		text(r.NASID), text(r.LocalAASID), text(r.HomeAASID), r.StopTimeGMT, text(r.StopTimeLocal), text(r.TimeZone),
		r.CreateDate, nil, r.RecordStatus, nil,
		text(r.UserNameSent), r.EventStamped, text(r.NASIP), text(r.NASIdentifier), text(r.Source), pid, text(r.Authenticator),
		text(r.NASPort), text(r.NASPortID), text(r.NASPortType), text(r.CallingStation), text(r.CalledStation), text(r.FramedIP),
		counterValue(r.InputOctets), counterValue(r.OutputOctets), counterValue(r.InputPackets), counterValue(r.OutputPackets),
		text(r.TerminateCause), text(r.Class), text(r.Origin),
		r.BatchID, r.MemberID, r.Line, text(r.Problem))
}

// AppendText appends the row's values as text in RawColumns order, ""
// for NULL: what `sqlite3 -csv` prints, and what the benchmark imports.
func (r *Row) AppendText(dst []string) []string {
	pid := ""
	if r.PacketID >= 0 {
		pid = strconv.FormatInt(r.PacketID, 10)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return append(dst,
		i(r.EntryID), r.UserName, r.UserDomain, r.StatusType, r.SessionID, i(r.SessionTime), i(r.DelayTime),
		r.NASID, r.LocalAASID, r.HomeAASID, r.StopTimeGMT, r.StopTimeLocal, r.TimeZone,
		r.CreateDate, "", r.RecordStatus, "",
		r.UserNameSent, i(r.EventStamped), r.NASIP, r.NASIdentifier, r.Source, pid, r.Authenticator,
		r.NASPort, r.NASPortID, r.NASPortType, r.CallingStation, r.CalledStation, r.FramedIP,
		counterText(r.InputOctets), counterText(r.OutputOctets), counterText(r.InputPackets), counterText(r.OutputPackets),
		r.TerminateCause, r.Class, r.Origin,
		i(r.BatchID), i(r.MemberID), i(r.Line), r.Problem)
}

// textLen is the total length of the row's text values.
func (r *Row) textLen() int {
	return len(r.UserName) + len(r.UserDomain) + len(r.StatusType) + len(r.SessionID) +
		len(r.NASID) + len(r.LocalAASID) + len(r.HomeAASID) + len(r.StopTimeGMT) + len(r.StopTimeLocal) + len(r.TimeZone) +
		len(r.CreateDate) + len(r.RecordStatus) + len(r.UserNameSent) + len(r.NASIP) + len(r.NASIdentifier) + len(r.Source) +
		len(r.Authenticator) + len(r.NASPort) + len(r.NASPortID) + len(r.NASPortType) + len(r.CallingStation) +
		len(r.CalledStation) + len(r.FramedIP) + len(r.TerminateCause) + len(r.Class) + len(r.Origin) + len(r.Problem)
}

// bind binds the row to parameters at+1 ... at+len(RawColumns) of s, in
// RawColumns order, every one of them (NULL included).
func (r *Row) bind(s *rawStmt, at int) error {
	texts := [...]struct {
		col int
		v   string
	}{
		{2, r.UserName}, {3, r.UserDomain}, {4, r.StatusType}, {5, r.SessionID},
		{8, r.NASID}, {9, r.LocalAASID}, {10, r.HomeAASID}, {11, r.StopTimeGMT}, {12, r.StopTimeLocal}, {13, r.TimeZone},
		{14, r.CreateDate}, {16, r.RecordStatus},
		{18, r.UserNameSent}, {20, r.NASIP}, {21, r.NASIdentifier}, {22, r.Source}, {24, r.Authenticator},
		{25, r.NASPort}, {26, r.NASPortID}, {27, r.NASPortType}, {28, r.CallingStation}, {29, r.CalledStation}, {30, r.FramedIP},
		{35, r.TerminateCause}, {36, r.Class}, {37, r.Origin}, {41, r.Problem},
	}
	ints := [...]struct {
		col int
		v   int64
	}{
		{1, r.EntryID}, {6, r.SessionTime}, {7, r.DelayTime}, {19, r.EventStamped},
		{38, r.BatchID}, {39, r.MemberID}, {40, r.Line},
	}
	for _, t := range texts {
		if err := s.bindText(at+t.col, t.v); err != nil {
			return err
		}
	}
	for _, n := range ints {
		if err := s.bindInt64(at+n.col, n.v); err != nil {
			return err
		}
	}
	for _, c := range [...]struct {
		col int
		v   int64
	}{{31, r.InputOctets}, {32, r.OutputOctets}, {33, r.InputPackets}, {34, r.OutputPackets}} {
		var err error
		if c.v == NullCounter {
			err = s.bindNull(at + c.col)
		} else {
			err = s.bindInt64(at+c.col, c.v)
		}
		if err != nil {
			return err
		}
	}
	for _, col := range [...]int{15, 17} { // history_time, pair_status: later stages
		if err := s.bindNull(at + col); err != nil {
			return err
		}
	}
	if r.PacketID >= 0 {
		return s.bindInt64(at+23, r.PacketID)
	}
	return s.bindNull(at + 23)
}
