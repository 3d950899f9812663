// Package radattr is the one table of the RADIUS accounting attributes
// the edge keeps in its spool records, shared by the listener (pkg/acct
// reads them from packets) and the importer (pkg/detail reads them from
// FreeRADIUS detail files): their names and numbers, which of them may
// appear only once, the names of enumerated values, and how the decoded
// values become a spool record (Values.Fill), octets and gigawords
// folded. Each path only decodes its own encoding into Values, so the two
// cannot disagree on what a request means.
package radattr

import (
	"strconv"
	"strings"

	"roamsettle/pkg/spool"
)

// Kind is how an attribute's value is encoded and kept.
type Kind uint8

const (
	String  Kind = iota + 1 // text, kept as sent
	Integer                 // unsigned 32 bits
	Enum                    // unsigned 32 bits whose values have names
	Date                    // seconds since 1970 (unsigned 32 bits on the wire); 0 is a NAS without a clock
	Address                 // an IPv4 or IPv6 address
	Octets                  // bytes, kept as hex
)

// ID names an attribute of the table.
type ID uint8

// The attributes the edge reads. The last ones are not RADIUS attributes
// on the wire: FreeRADIUS writes them into detail files about the packet.
const (
	AcctStatusType ID = iota + 1
	AcctSessionID
	UserName
	NASIPAddress
	NASIPv6Address
	NASIdentifier
	NASPort
	NASPortID
	NASPortType
	CallingStationID
	CalledStationID
	FramedIPAddress
	AcctDelayTime
	AcctSessionTime
	AcctInputOctets
	AcctOutputOctets
	AcctInputGigawords
	AcctOutputGigawords
	AcctInputPackets
	AcctOutputPackets
	AcctTerminateCause
	EventTimestamp
	Class
	// Detail files only.
	Timestamp                 // when FreeRADIUS received the packet
	ClientIPAddress           // the packet's source (FreeRADIUS 1.x, 2.x)
	PacketSrcIPAddress        // the packet's source (log_packet_header)
	PacketSrcIPv6Address      // the packet's source, IPv6
	FreeRADIUSClientIPAddress // the client's address as FreeRADIUS 3 knows it
	PacketSrcPort             // the packet's source port
	FreeRADIUSProxiedTo       // the home server FreeRADIUS proxied to

	// Count is one more than the last ID: an array indexed by ID has
	// Count elements (0 is no attribute).
	Count
)

// Attr is what the table says about one attribute.
type Attr struct {
	Name   string // as the RFCs and FreeRADIUS's dictionaries spell it
	Number byte   // attribute type on the wire; 0 for those only detail files have
	Kind   Kind
	Repeat bool       // may appear more than once (the first is kept); all others are single-valued
	names  []string   // Kind Enum: the name of each value, "" where none
	alias  []enumName // Kind Enum: other names read (never written)
}

type enumName struct {
	name  string
	value uint32
}

// attrs is the table, by ID. It is never written after initialisation.
var attrs = [Count]Attr{
	AcctStatusType:      {Name: "Acct-Status-Type", Number: 40, Kind: Enum, names: statusNames, alias: []enumName{{"Alive", 3}}},
	AcctSessionID:       {Name: "Acct-Session-Id", Number: 44, Kind: String},
	UserName:            {Name: "User-Name", Number: 1, Kind: String},
	NASIPAddress:        {Name: "NAS-IP-Address", Number: 4, Kind: Address},
	NASIPv6Address:      {Name: "NAS-IPv6-Address", Number: 95, Kind: Address},
	NASIdentifier:       {Name: "NAS-Identifier", Number: 32, Kind: String},
	NASPort:             {Name: "NAS-Port", Number: 5, Kind: Integer},
	NASPortID:           {Name: "NAS-Port-Id", Number: 87, Kind: String},
	NASPortType:         {Name: "NAS-Port-Type", Number: 61, Kind: Enum, names: portTypes},
	CallingStationID:    {Name: "Calling-Station-Id", Number: 31, Kind: String},
	CalledStationID:     {Name: "Called-Station-Id", Number: 30, Kind: String},
	FramedIPAddress:     {Name: "Framed-IP-Address", Number: 8, Kind: Address},
	AcctDelayTime:       {Name: "Acct-Delay-Time", Number: 41, Kind: Integer},
	AcctSessionTime:     {Name: "Acct-Session-Time", Number: 46, Kind: Integer},
	AcctInputOctets:     {Name: "Acct-Input-Octets", Number: 42, Kind: Integer},
	AcctOutputOctets:    {Name: "Acct-Output-Octets", Number: 43, Kind: Integer},
	AcctInputGigawords:  {Name: "Acct-Input-Gigawords", Number: 52, Kind: Integer},
	AcctOutputGigawords: {Name: "Acct-Output-Gigawords", Number: 53, Kind: Integer},
	AcctInputPackets:    {Name: "Acct-Input-Packets", Number: 47, Kind: Integer},
	AcctOutputPackets:   {Name: "Acct-Output-Packets", Number: 48, Kind: Integer},
	AcctTerminateCause:  {Name: "Acct-Terminate-Cause", Number: 49, Kind: Enum, names: terminateCauses},
	EventTimestamp:      {Name: "Event-Timestamp", Number: 55, Kind: Date},
	// RFC 2865 §5.25: a server may send several Class attributes.
	Class: {Name: "Class", Number: 25, Kind: Octets, Repeat: true},

	Timestamp:                 {Name: "Timestamp", Kind: Date},
	ClientIPAddress:           {Name: "Client-IP-Address", Kind: Address},
	PacketSrcIPAddress:        {Name: "Packet-Src-IP-Address", Kind: Address},
	PacketSrcIPv6Address:      {Name: "Packet-Src-IPv6-Address", Kind: Address},
	FreeRADIUSClientIPAddress: {Name: "FreeRADIUS-Client-IP-Address", Kind: Address},
	PacketSrcPort:             {Name: "Packet-Src-Port", Kind: Integer},
	FreeRADIUSProxiedTo:       {Name: "FreeRADIUS-Proxied-To", Kind: String},
}

// statusNames are the RFC 2866 (and RFC 2867) Acct-Status-Type names by
// value. The spool keeps five of them (SpoolStatus).
var statusNames = []string{1: "Start", "Stop", "Interim-Update", 7: "Accounting-On", "Accounting-Off",
	"Tunnel-Start", "Tunnel-Stop", "Tunnel-Reject", "Tunnel-Link-Start", "Tunnel-Link-Stop",
	"Tunnel-Link-Reject", "Failed"}

// terminateCauses are the RFC 2866 and RFC 3580 Acct-Terminate-Cause
// names by value.
var terminateCauses = []string{1: "User-Request", "Lost-Carrier", "Lost-Service", "Idle-Timeout",
	"Session-Timeout", "Admin-Reset", "Admin-Reboot", "Port-Error", "NAS-Error", "NAS-Request",
	"NAS-Reboot", "Port-Unneeded", "Port-Preempted", "Port-Suspended", "Service-Unavailable",
	"Callback", "User-Error", "Host-Request", "Supplicant-Restart", "Reauthentication-Failure",
	"Port-Reinitialized", "Port-Administratively-Disabled"}

// portTypes are the NAS-Port-Type names by value (RFC 2865 and the IANA
// registry after it, as FreeRADIUS's dictionary has them).
var portTypes = []string{0: "Async", "Sync", "ISDN", "ISDN-V120", "ISDN-V110", "Virtual", "PIAFS",
	"HDLC-Clear-Channel", "X.25", "X.75", "G.3-Fax", "SDSL", "ADSL-CAP", "ADSL-DMT", "IDSL",
	"Ethernet", "xDSL", "Cable", "Wireless-Other", "Wireless-802.11", "Token-Ring", "FDDI",
	"Wireless-CDMA2000", "Wireless-UMTS", "Wireless-1X-EV", "IAPP", "FTTP", "Wireless-802.16",
	"Wireless-802.20", "Wireless-802.22", "PPPoA", "PPPoEoA", "PPPoEoE", "PPPoEoVLAN",
	"PPPoEoQinQ", "xPON", "Wireless-XGP"}

// Attr returns what the table says about id.
func (id ID) Attr() Attr { return attrs[id] }

func (id ID) String() string {
	if id == 0 || id >= Count {
		return "attribute(" + strconv.Itoa(int(id)) + ")"
	}
	return attrs[id].Name
}

// byNumber and byName index the table; like it, they are never written
// after initialisation.
var (
	byNumber = func() (m [256]ID) {
		for id := ID(1); id < Count; id++ {
			if n := attrs[id].Number; n != 0 {
				m[n] = id
			}
		}
		return m
	}()
	byName = func() map[string]ID {
		m := make(map[string]ID, 2*Count)
		for id := ID(1); id < Count; id++ {
			m[attrs[id].Name] = id
			m[strings.ToLower(attrs[id].Name)] = id
		}
		return m
	}()
)

// ByNumber returns the attribute of a type number on the wire; false for
// one the edge does not keep (vendor attributes among them).
func ByNumber(n byte) (ID, bool) {
	id := byNumber[n]
	return id, id != 0
}

// ByName returns the attribute of a name, compared case-insensitively
// like FreeRADIUS's dictionaries; false for one the edge does not keep.
func ByName(name string) (ID, bool) {
	if id, ok := byName[name]; ok {
		return id, true
	}
	id, ok := byName[strings.ToLower(name)]
	return id, ok
}

// ValueName is the name of an enumerated value: the table's, else a name
// it was read as that the table does not know, else its number.
func (a Attr) ValueName(v Value) string {
	if v.Text != "" {
		return v.Text
	}
	if int(v.Num) < len(a.names) && a.names[v.Num] != "" {
		return a.names[v.Num]
	}
	return strconv.FormatUint(uint64(v.Num), 10)
}

// EnumValue is the value of an enumeration's name, compared
// case-insensitively; false for a name the table does not know.
func (a Attr) EnumValue(name string) (uint32, bool) {
	for v, n := range a.names {
		if n != "" && strings.EqualFold(n, name) {
			return uint32(v), true
		}
	}
	for _, al := range a.alias {
		if strings.EqualFold(al.name, name) {
			return al.value, true
		}
	}
	return 0, false
}

// SpoolStatuses lists the status types the spool keeps, for messages.
const SpoolStatuses = "Start, Stop, Interim-Update, Accounting-On, Accounting-Off"

// SpoolStatus is the spool's status type of an Acct-Status-Type value;
// false for the ones the spool format has no place for (Tunnel-*, Failed,
// a name the table does not know).
func SpoolStatus(v Value) (string, bool) {
	if v.Text != "" {
		return "", false
	}
	switch v.Num {
	case 1:
		return spool.Start, true
	case 2:
		return spool.Stop, true
	case 3:
		return spool.Interim, true
	case 7:
		return spool.AccountingOn, true
	case 8:
		return spool.AccountingOff, true
	}
	return "", false
}

// Fold is a 64-bit counter from its low 32 bits (Acct-*-Octets) and its
// Gigawords (RFC 2869 §5.1, §5.2): how many times the low part wrapped.
func Fold(octets, gigawords uint32) uint64 { return uint64(gigawords)<<32 | uint64(octets) }
