// Package sim generates deterministic sample roaming traffic: users of
// partner realms roaming at one local ISP, as FreeRADIUS detail records or
// as radclient input. The same options give byte-identical output, and
// the output streams: memory grows with the sessions open at one time,
// not with the length of the run.
package sim

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/detail"
)

// Format is what Write produces.
type Format int

const (
	Detail    Format = iota // a FreeRADIUS detail file
	Radclient               // radclient input: attribute lists separated by blank lines
)

// Options say what traffic to make.
type Options struct {
	Partners *config.Partners
	ISP      string     // the local ISP (a partner id) whose NAS sees the traffic
	Sessions int        // sessions to start
	Seed     uint64     // same seed, same output
	Start    time.Time  // first session start (UTC)
	Days     int        // sessions start within this many days
	NASIP    netip.Addr // NAS-IP-Address (or NAS-IPv6-Address)
	NASID    string     // NAS-Identifier
}

// Stats describe a run.
type Stats struct {
	Records    int64 // records written
	MaxPending int   // most events waiting at once: the memory the run needed
}

// Shares of the noise, in per mille of sessions (or of records for
// retransmissions).
const (
	homeIsLocalPM = 20 // users of the local ISP's own realm (irrelevant centrally)
	unknownPM     = 10 // users of a realm no partner owns
	oddFormPM     = 30 // REALM\user, user%realm, upper-case realms
	noStopPM      = 5  // the NAS never sends the Stop
	zeroPM        = 10 // zero-length sessions
	retransmitPM  = 10 // records written twice (retransmitted with a longer delay)
	interimEvery  = 1800
	usersPerRealm = 5000
)

// Write generates the traffic into w.
func Write(w io.Writer, o Options, f Format) (Stats, error) {
	g, err := newGen(o, f)
	if err != nil {
		return Stats{}, err
	}
	bw := bufio.NewWriterSize(w, 256*1024)
	g.w = bw
	g.run()
	if g.err == nil {
		g.err = bw.Flush()
	}
	return g.stats, g.err
}

type status int

const (
	start status = iota
	interim
	stop
	accountingOn
)

var statusNames = [...]string{"Start", "Interim-Update", "Stop", "Accounting-On"}

type session struct {
	id       string
	user     string
	port     int64
	mac      string
	ip       string
	boot     int
	startAt  int64  // event time of the Start, Unix seconds
	rate     uint64 // input bytes per second
	cause    string
	duration int64
}

type event struct {
	at    int64 // receipt time: output order
	seq   uint64
	what  status
	s     *session
	event int64 // event time
	delay int64
	boot  int
}

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

type gen struct {
	o       Options
	format  Format
	rnd     rng
	w       *bufio.Writer
	err     error
	q       queue
	seq     uint64
	boot    int
	nextID  int
	reboots []int64
	foreign []*config.Partner
	local   *config.Partner
	buf     []byte
	stats   Stats
}

func newGen(o Options, f Format) (*gen, error) {
	if o.Partners == nil {
		return nil, errors.New("sim: no partners")
	}
	local, ok := o.Partners.ByID(o.ISP)
	if !ok {
		return nil, fmt.Errorf("sim: --isp %q is not a partner id", o.ISP)
	}
	g := &gen{o: o, format: f, rnd: rng{o.Seed}, local: local}
	for _, p := range o.Partners.List {
		if p != local && len(p.Realms) > 0 {
			g.foreign = append(g.foreign, p)
		}
	}
	if len(g.foreign) == 0 {
		return nil, fmt.Errorf("sim: no partner other than %s has a realm to roam from", o.ISP)
	}
	if o.Sessions < 0 || o.Days < 1 {
		return nil, errors.New("sim: sessions must be 0 or more and days 1 or more")
	}
	if !o.NASIP.IsValid() {
		return nil, errors.New("sim: no NAS address")
	}
	// A few NAS reboots (Accounting-On); session ids start again after each.
	if o.Sessions >= 10 {
		n := 1 + o.Sessions/100000
		for i := 0; i < n; i++ {
			g.reboots = append(g.reboots, o.Start.Unix()+g.rnd.intn(int64(o.Days)*86400))
		}
		slices.Sort(g.reboots)
	}
	return g, nil
}

func (g *gen) run() {
	period := int64(g.o.Days) * 86400
	n := int64(g.o.Sessions)
	for i := int64(0); i < n && g.err == nil; i++ {
		// Session i starts somewhere in the i-th of n equal slices of the
		// period: in order, and never after its end.
		from, to := i*period/n, (i+1)*period/n
		t := g.o.Start.Unix() + from + g.rnd.intn(max(to-from, 1))
		for len(g.reboots) > 0 && g.reboots[0] <= t {
			r := g.reboots[0]
			g.reboots = g.reboots[1:]
			g.drain(r)
			g.boot++
			g.nextID = 0
			g.write(&event{at: r, what: accountingOn, event: r})
		}
		g.drain(t)
		g.newSession(t)
	}
	g.drain(1<<62 - 1)
}

// drain writes the events received up to and including t.
func (g *gen) drain(t int64) {
	for len(g.q) > 0 && g.q[0].at <= t && g.err == nil {
		e := heap.Pop(&g.q).(*event)
		if e.boot != g.boot {
			continue // the NAS rebooted: it never sent the rest of this session
		}
		g.write(e)
	}
}

func (g *gen) push(e *event) {
	g.seq++
	e.seq = g.seq
	e.boot = g.boot
	heap.Push(&g.q, e)
	if len(g.q) > g.stats.MaxPending {
		g.stats.MaxPending = len(g.q)
	}
	// A few records arrive twice: the NAS retransmitted after a lost
	// response, with a longer Acct-Delay-Time.
	if e.what != accountingOn && g.rnd.intn(1000) < retransmitPM {
		d := *e
		extra := 3 + g.rnd.intn(28)
		d.delay += extra
		d.at += extra
		g.seq++
		d.seq = g.seq
		heap.Push(&g.q, &d)
	}
}

var causes = []string{"User-Request", "User-Request", "User-Request", "Idle-Timeout", "Session-Timeout", "Lost-Carrier", "Admin-Reset"}

func (g *gen) newSession(t int64) {
	g.nextID++
	s := &session{
		id:      fmt.Sprintf("%08X", g.nextID),
		user:    g.user(),
		port:    1 + g.rnd.intn(4096),
		boot:    g.boot,
		startAt: t,
		rate:    uint64(1000 + g.rnd.intn(200000)),
		cause:   causes[g.rnd.intn(int64(len(causes)))],
	}
	m := g.rnd.next()
	s.mac = fmt.Sprintf("02-%02X-%02X-%02X-%02X-%02X", byte(m>>32), byte(m>>24), byte(m>>16), byte(m>>8), byte(m))
	s.ip = fmt.Sprintf("10.%d.%d.%d", byte(m>>40), byte(m>>48), 1+g.rnd.intn(254))
	switch r := g.rnd.intn(1000); {
	case r < zeroPM:
		s.duration = 0
	case r < 600:
		s.duration = 60 + g.rnd.intn(1740)
	case r < 950:
		s.duration = 1800 + g.rnd.intn(9000)
	default:
		s.duration = 10800 + g.rnd.intn(25200)
	}
	g.push(&event{at: t + 0, what: start, s: s, event: t})
	for el := int64(interimEvery); el < s.duration; el += interimEvery {
		d := g.delay()
		g.push(&event{at: t + el + d, what: interim, s: s, event: t + el, delay: d})
	}
	if g.rnd.intn(1000) >= noStopPM {
		d := g.delay()
		g.push(&event{at: t + s.duration + d, what: stop, s: s, event: t + s.duration, delay: d})
	}
}

// delay is Acct-Delay-Time: mostly 0, sometimes a few seconds.
func (g *gen) delay() int64 {
	if g.rnd.intn(10) < 8 {
		return 0
	}
	return 1 + g.rnd.intn(10)
}

// user picks a roaming user: mostly of a partner's realm, with the noise
// the central cleaning has to handle.
func (g *gen) user() string {
	n := 1 + g.rnd.intn(usersPerRealm)
	r := g.rnd.intn(1000)
	switch {
	case r < unknownPM:
		return fmt.Sprintf("user%d@unknown-realm.example", n)
	case r < unknownPM+homeIsLocalPM:
		return fmt.Sprintf("user%d@%s", n, g.local.Realms[g.rnd.intn(int64(len(g.local.Realms)))])
	}
	p := g.foreign[g.rnd.intn(int64(len(g.foreign)))]
	realm := p.Realms[g.rnd.intn(int64(len(p.Realms)))]
	if r < unknownPM+homeIsLocalPM+oddFormPM {
		switch g.rnd.intn(3) {
		case 0:
			return fmt.Sprintf("%s\\user%d", realm, n)
		case 1:
			return fmt.Sprintf("user%d%%%s", n, realm)
		default:
			return fmt.Sprintf("user%d@%s", n, upper(realm))
		}
	}
	return fmt.Sprintf("user%d@%s", n, realm)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// write formats one record.
func (g *gen) write(e *event) {
	if g.err != nil {
		return
	}
	b := g.buf[:0]
	if g.format == Detail {
		b = time.Unix(e.at, 0).UTC().AppendFormat(b, time.ANSIC)
		b = append(b, '\n')
	}
	attr := func(name string) {
		if g.format == Detail {
			b = append(b, '\t')
		}
		b = append(b, name...)
		b = append(b, " = "...)
	}
	num := func(name string, v int64) {
		attr(name)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '\n')
	}
	str := func(name, v string) {
		attr(name)
		b = detail.AppendQuote(b, v)
		b = append(b, '\n')
	}
	word := func(name, v string) {
		attr(name)
		b = append(b, v...)
		b = append(b, '\n')
	}
	word("Acct-Status-Type", statusNames[e.what])
	if s := e.s; s != nil {
		str("User-Name", s.user)
		str("Acct-Session-Id", s.id)
	}
	if g.o.NASIP.Is4() {
		word("NAS-IP-Address", g.o.NASIP.String())
	} else {
		word("NAS-IPv6-Address", g.o.NASIP.String())
	}
	if g.o.NASID != "" {
		str("NAS-Identifier", g.o.NASID)
	}
	if s := e.s; s != nil {
		num("NAS-Port", s.port)
		word("NAS-Port-Type", "Wireless-802.11")
		str("Calling-Station-Id", s.mac)
		str("Called-Station-Id", "02-00-00-00-00-01:RoamWiFi")
		word("Framed-IP-Address", s.ip)
		if e.what != start {
			el := e.event - s.startAt
			in := s.rate * uint64(el)
			out := in / 8
			num("Acct-Session-Time", el)
			num("Acct-Input-Octets", int64(in&0xffffffff))
			num("Acct-Output-Octets", int64(out&0xffffffff))
			if in>>32 > 0 {
				num("Acct-Input-Gigawords", int64(in>>32))
			}
			if out>>32 > 0 {
				num("Acct-Output-Gigawords", int64(out>>32))
			}
			num("Acct-Input-Packets", int64(in/1200))
			num("Acct-Output-Packets", int64(out/600))
		}
		if e.what == stop {
			word("Acct-Terminate-Cause", s.cause)
		}
	}
	if g.format == Detail {
		str("Event-Timestamp", time.Unix(e.event, 0).UTC().Format("Jan _2 2006 15:04:05 UTC"))
	} else {
		num("Event-Timestamp", e.event)
	}
	num("Acct-Delay-Time", e.delay)
	if g.format == Detail {
		num("Timestamp", e.at)
	}
	b = append(b, '\n')
	g.buf = b
	if _, err := g.w.Write(b); err != nil {
		g.err = err
	}
	g.stats.Records++
}

// rng is SplitMix64: tiny, and its output is fixed forever, unlike the
// standard library's generators whose algorithms may change.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn is a number in [0, n); n > 0. The modulo bias is below 2^-40 for
// the ranges used here.
func (r *rng) intn(n int64) int64 { return int64(r.next() % uint64(n)) }
