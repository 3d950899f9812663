package e2e

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// period is the month reported. It lies in the past of any clock the test
// runs on (later event times would be FUTURE_EVENT) and holds summer-time
// ends in Europe (25 Oct) and starts in Australia (4 Oct); the US change
// (1 Nov) is just past its end.
const period = "2026-10"

var (
	periodStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	periodEnd   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
)

type partner struct{ id, name, country, realms, zone string }

// partners: five ISPs in five zones; ISPA, ISPB and ISPC run edges,
// ISPD and ISPE are only home ISPs. ISPE publishes to its own FTP account
// (partners.csv's publish column), the others to the shared one.
var partners = []partner{
	{"ISPA", "Aimnet", "USA", "aimnet.com", "America/Los_Angeles"},
	{"ISPB", "Connect.com", "Australia", "connect.com.au connect.com", "Australia/Sydney"},
	{"ISPC", "Netzwerk", "Germany", "netzwerk.de", "Europe/Berlin"},
	{"ISPD", "Sakura Net", "Japan", "sakura.ne.jp", "Asia/Tokyo"},
	{"ISPE", "Rio Online", "Brazil", "rio.com.br", "America/Sao_Paulo"},
}

func partnerByID(id string) partner {
	for _, p := range partners {
		if p.id == id {
			return p
		}
	}
	panic("no partner " + id)
}

type tariff struct {
	local, home, validFrom, days, hours string
	provider, consumer                  string // per minute
	increment, minimum                  int64
}

// tariffs exercise every step of the selection: a (local,home) row, two
// banded (local,*) rows (weekend; weekday nights wrapping midnight), a
// per-second (local,*) row, a (*,home) row, a banded and an unbanded
// (local,home) pair, and a (*,*) row replaced mid-period by a later
// valid_from. Odd rates and increments make half-up rounding matter.
var tariffs = []tariff{
	{"*", "*", "2026-01-01", "*", "*", "0.0300", "0.0500", 60, 60},
	{"*", "*", "2026-10-15", "*", "*", "0.0330", "0.0510", 60, 60},
	{"ISPB", "ISPA", "2026-06-01", "*", "*", "0.0250", "0.0450", 60, 0},
	{"ISPB", "*", "2026-06-01", "Sat Sun", "*", "0.0100", "0.0300", 60, 0},
	{"ISPB", "*", "2026-06-01", "Mon Tue Wed Thu Fri", "18:00-08:00", "0.0150", "0.0350", 30, 0},
	{"ISPA", "*", "2026-01-01", "*", "*", "0.0275", "0.0485", 1, 30},
	{"*", "ISPD", "2026-01-01", "*", "*", "0.0375", "0.0625", 6, 60},
	{"ISPC", "ISPE", "2026-01-01", "*", "22:00-06:00", "0.0125", "0.0255", 60, 120},
	{"ISPC", "ISPE", "2026-01-01", "*", "*", "0.0225", "0.0405", 60, 120},
}

const feePerSession, feePerMinute = "0.0100", "0.0020"

// session is one session the NAS reports, and what the test expects of it.
type session struct {
	edge    string // the local ISP (its edge sends it)
	id      string // Acct-Session-Id
	sent    string // User-Name as the NAS sends it
	user    string // expected normalised user@realm; "" when rejected
	home    string // expected home ISP; "" when rejected
	start   time.Time
	dur     int64
	noStart bool // the NAS lost the Start: only the Stop arrives
	interim bool // an Interim-Update between Start and Stop
	resend  bool // the Stop is sent again later (new packet, more delay): a DUPLICATE
}

func (s session) stop() time.Time { return s.start.Add(time.Duration(s.dur) * time.Second) }

// rated says whether the session is in the period's reports.
func (s session) rated() bool {
	return s.home != "" && s.home != s.edge && s.dur > 0 && !s.stop().Before(periodStart) && s.stop().Before(periodEnd)
}

var edges = []string{"ISPA", "ISPB", "ISPC"}

// traffic is the sessions of all three edges: a seeded random part and
// the noise, written out.
func traffic() []session {
	rng := rand.New(rand.NewPCG(2026, 10))
	durations := []int64{1, 6, 29, 30, 31, 45, 59, 60, 61, 89, 90, 91, 119, 120, 121, 150, 179, 599, 3599}
	var out []session
	for _, edge := range edges {
		for i := range 60 {
			home := partners[rng.IntN(len(partners))]
			realms := strings.Fields(home.realms)
			realm := realms[rng.IntN(len(realms))]
			user := fmt.Sprintf("u%02d", rng.IntN(15))
			var dur int64
			if rng.IntN(2) == 0 {
				dur = durations[rng.IntN(len(durations))]
			} else {
				dur = 1 + rng.Int64N(3*3600)
			}
			start := periodStart.Add(time.Duration(rng.Int64N(30*86400)) * time.Second)
			out = append(out, session{edge: edge, id: fmt.Sprintf("%s-%03d", edge, i), sent: user + "@" + realm,
				user: user + "@" + realm, home: home.id, start: start, dur: dur,
				noStart: rng.IntN(8) == 0, interim: dur > 120 && rng.IntN(5) == 0, resend: rng.IntN(12) == 0})
		}
	}
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	noise := []session{
		// The period's borders: a Stop one second before its end is in; one
		// at its end is November's; one that started in September is in.
		{edge: "ISPA", id: "border-in", sent: "nina@connect.com.au", user: "nina@connect.com.au", home: "ISPB", start: at("2026-10-31T23:50:00Z"), dur: 599},
		{edge: "ISPA", id: "border-out", sent: "nina@connect.com.au", user: "nina@connect.com.au", home: "ISPB", start: at("2026-10-31T23:50:00Z"), dur: 600},
		{edge: "ISPB", id: "border-sep", sent: "otto@netzwerk.de", user: "otto@netzwerk.de", home: "ISPC", start: at("2026-09-30T23:30:00Z"), dur: 3600},
		// Either side of the (*,*) row of 2026-10-15 (stop date, UTC).
		{edge: "ISPC", id: "vf-before", sent: "amy@aimnet.com", user: "amy@aimnet.com", home: "ISPA", start: at("2026-10-14T23:58:00Z"), dur: 119},
		{edge: "ISPC", id: "vf-after", sent: "amy@aimnet.com", user: "amy@aimnet.com", home: "ISPA", start: at("2026-10-14T23:58:00Z"), dur: 121},
		// Realms in another case and the other two NAI forms.
		{edge: "ISPA", id: "case-1", sent: "Bob@Connect.COM.AU", user: "Bob@connect.com.au", home: "ISPB", start: at("2026-10-03T08:00:00Z"), dur: 61},
		{edge: "ISPC", id: "case-2", sent: "eve@SAKURA.NE.JP", user: "eve@sakura.ne.jp", home: "ISPD", start: at("2026-10-20T10:00:00Z"), dur: 95},
		{edge: "ISPC", id: "pct", sent: "carol%rio.com.br", user: "carol@rio.com.br", home: "ISPE", start: at("2026-10-21T21:30:00Z"), dur: 700},
		{edge: "ISPB", id: "bslash", sent: `Rio.com.br\dave`, user: "dave@rio.com.br", home: "ISPE", start: at("2026-10-09T12:00:00Z"), dur: 301},
		// ISPC's (local,home) band at night, Berlin time, on the night
		// summer time ends (02:30 CEST, then 02:30 CET an hour later).
		{edge: "ISPC", id: "dst-1", sent: "rui@rio.com.br", user: "rui@rio.com.br", home: "ISPE", start: at("2026-10-25T00:30:00Z"), dur: 1800},
		{edge: "ISPC", id: "dst-2", sent: "rui@rio.com.br", user: "rui@rio.com.br", home: "ISPE", start: at("2026-10-25T01:30:00Z"), dur: 1800},
		{edge: "ISPC", id: "day-1", sent: "rui@rio.com.br", user: "rui@rio.com.br", home: "ISPE", start: at("2026-10-26T11:00:00Z"), dur: 1800},
		// Rejected (realm of no partner), at home (irrelevant), of no length.
		{edge: "ISPB", id: "lost", sent: "lost@nowhere.example", start: at("2026-10-12T09:00:00Z"), dur: 300},
		{edge: "ISPA", id: "home", sent: "amy@aimnet.com", user: "amy@aimnet.com", home: "ISPA", start: at("2026-10-12T09:00:00Z"), dur: 300},
		{edge: "ISPA", id: "zero", sent: "amy@connect.com", user: "amy@connect.com", home: "ISPB", start: at("2026-10-12T09:00:00Z"), dur: 0},
		// A Stop sent twice, and a session with no Start, for certain.
		{edge: "ISPB", id: "resent", sent: "kai@sakura.ne.jp", user: "kai@sakura.ne.jp", home: "ISPD", start: at("2026-10-05T03:00:00Z"), dur: 1234, resend: true},
		{edge: "ISPC", id: "nostart", sent: "kai@sakura.ne.jp", user: "kai@sakura.ne.jp", home: "ISPD", start: at("2026-10-05T03:00:00Z"), dur: 77, noStart: true},
	}
	return append(out, noise...)
}

// radclientInput writes an edge's traffic as radclient input in four
// rounds, each sent whole before the next: Starts, Interim-Updates, Stops,
// then the Stops a NAS sends again (a later Acct-Delay-Time, the same
// Event-Timestamp and figures).
func radclientInput(sessions []session, edge, nasIP string) [4]string {
	var rounds [4]strings.Builder
	for _, s := range sessions {
		if s.edge != edge {
			continue
		}
		packet := func(round int, status string, at time.Time, elapsed int64, delay int) {
			b := &rounds[round]
			fmt.Fprintf(b, "Acct-Status-Type = %s\nUser-Name = %q\nAcct-Session-Id = %q\nNAS-IP-Address = %s\nNAS-Port = 7\n",
				status, s.sent, s.id, nasIP)
			fmt.Fprintf(b, "Event-Timestamp = %d\nAcct-Delay-Time = %d\n", at.Unix(), delay)
			if status != "Start" {
				fmt.Fprintf(b, "Acct-Session-Time = %d\nAcct-Input-Octets = %d\nAcct-Output-Octets = %d\n", elapsed, 1000*elapsed, 300*elapsed)
			}
			if status == "Stop" {
				b.WriteString("Acct-Terminate-Cause = User-Request\n")
			}
			b.WriteString("\n")
		}
		if !s.noStart {
			packet(0, "Start", s.start, 0, 0)
		}
		if s.interim {
			packet(1, "Interim-Update", s.start.Add(time.Duration(s.dur/2)*time.Second), s.dur/2, 0)
		}
		packet(2, "Stop", s.stop(), s.dur, 1)
		if s.resend {
			packet(3, "Stop", s.stop(), s.dur, 31)
		}
	}
	var out [4]string
	for i := range rounds {
		out[i] = rounds[i].String()
	}
	return out
}
