package clean

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/config"
)

func testPartners(t *testing.T) *config.Partners {
	t.Helper()
	p, err := config.ParsePartners(strings.NewReader(`id,name,country,realms,timezone
ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles
ISPB,Connect.com,Australia,connect.com.au connect.com,Australia/Sydney
ISPC,Example,Germany,example.net,Europe/Berlin
`), "partners.csv")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var t0 = time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)

// rb builds records of one group in a test: sender ISPB, nas1, batch 1
// created a day after t0.
type rb struct {
	recs []Rec
}

func (b *rb) add(status, sid, user string, at time.Duration, sessionTime int64, mod ...func(*Rec)) *rb {
	r := Rec{EntryID: int64(len(b.recs) + 1), Sender: "ISPB", Sequence: 1, Member: int64(len(b.recs) + 1), Line: int64(len(b.recs) + 2),
		BatchCreated: t0.Add(48 * time.Hour), StatusType: status, SessionID: sid, UserNameSent: user, NAS: "nas1",
		SessionTime: sessionTime, EventTime: t0.Add(at), Received: t0.Add(at + 100*time.Millisecond)}
	if status == statusStop {
		r.InputOctets, r.OutputOctets, r.InputPackets, r.OutputPackets = 1000, 2000, 10, 20
		r.TerminateCause = "User-Request"
	}
	for _, m := range mod {
		m(&r)
	}
	b.recs = append(b.recs, r)
	return b
}

func (b *rb) session(sid, user string, start, stop time.Duration, mod ...func(*Rec)) *rb {
	b.add(statusStart, sid, user, start, 0, mod...)
	return b.add(statusStop, sid, user, stop, int64((stop-start)/time.Second), mod...)
}

func results(res []Result) string {
	var out []string
	for _, r := range res {
		out = append(out, r.String())
	}
	return strings.Join(out, "; ")
}

func TestRules(t *testing.T) {
	p := testPartners(t)
	min := time.Minute
	for _, tc := range []struct {
		name     string
		recs     *rb
		bounds   []time.Duration
		want     string // results, in record order
		sessions int
		check    func(t *testing.T, s []SessionRow)
	}{
		{
			name:     "start and stop make one session with the stop's figures",
			recs:     new(rb).session("s1", "user1@aimnet.com", 0, 5*min),
			want:     "session SESSION start; session SESSION stop",
			sessions: 1,
			check: func(t *testing.T, s []SessionRow) {
				x := s[0]
				if x.Duration != 300 || !x.Start.Equal(t0) || !x.Stop.Equal(t0.Add(5*min)) || x.Home != "ISPA" || x.Local != "ISPB" ||
					x.UserName() != "user1@aimnet.com" || x.Estimated || x.StartDerived || x.InputOctets != 1000 || x.TermCause != "User-Request" ||
					x.Key != "ISPB|nas1|20260630T180000Z|s1" || x.Zone.String() != "Australia/Sydney" || x.Period() != "2026-06" {
					t.Errorf("%+v", x)
				}
			},
		},
		{
			name: "accounting-on and -off are irrelevant",
			recs: new(rb).add(statusOn, "", "", 0, 0).add(statusOff, "", "", min, 0),
			want: "irrelevant ACCOUNTING_ON_OFF; irrelevant ACCOUNTING_ON_OFF",
		},
		{
			name: "a retransmitted stop (new delay and receipt time) is a duplicate of the first",
			recs: new(rb).session("s1", "u@aimnet.com", 0, 5*min).
				add(statusStop, "s1", "u@aimnet.com", 5*min+300*time.Millisecond, 300, func(r *Rec) {
					r.InputOctets, r.OutputOctets, r.InputPackets, r.OutputPackets = 1000, 2000, 10, 20
					r.Received = r.EventTime.Add(3 * time.Second)
				}),
			want:     "session SESSION start; session SESSION stop; duplicate DUPLICATE of 2",
			sessions: 1,
		},
		{
			name: "the same stamped stop sent twice as two requests: duplicate; in another batch: still",
			recs: new(rb).session("s1", "u@aimnet.com", 0, 5*min, func(r *Rec) { r.EventStamped = true }).
				add(statusStop, "s1", "u@aimnet.com", 5*min, 300, func(r *Rec) {
					r.EventStamped = true
					r.InputOctets, r.OutputOctets, r.InputPackets, r.OutputPackets = 1000, 2000, 10, 20
					r.Sequence, r.Received = 2, r.Received.Add(time.Hour)
				}),
			want:     "session SESSION start; session SESSION stop; duplicate DUPLICATE of 2",
			sessions: 1,
		},
		{
			name: "the copy received first is the original, whatever the entry order",
			recs: new(rb).add(statusStop, "s1", "u@aimnet.com", 5*min, 300, func(r *Rec) { r.Received = r.Received.Add(time.Minute) }).
				add(statusStop, "s1", "u@aimnet.com", 5*min, 300),
			want:     "duplicate DUPLICATE of 2; session SESSION stop",
			sessions: 1,
		},
		{
			name: "same counters, stamped event times apart: two records, not copies",
			recs: new(rb).session("s1", "u@aimnet.com", 0, 5*min, func(r *Rec) { r.EventStamped = true }).
				add(statusStart, "s1", "u@aimnet.com", 2*time.Second, 0, func(r *Rec) { r.EventStamped = true }),
			want:     "session SESSION start; session SESSION stop; irrelevant SUPERSEDED start",
			sessions: 1,
		},
		{
			name: "a session id reused after an Accounting-On makes two sessions",
			recs: new(rb).session("1", "u@aimnet.com", 0, 2*min).
				add(statusOn, "", "", 3*min, 0).
				session("1", "u@aimnet.com", 3*min+10*time.Second, 6*min),
			bounds:   []time.Duration{3 * min},
			want:     "session SESSION start; session SESSION stop; irrelevant ACCOUNTING_ON_OFF; session SESSION start; session SESSION stop",
			sessions: 2,
			check: func(t *testing.T, s []SessionRow) {
				if s[0].Duration != 120 || s[1].Duration != 170 || s[0].Key == s[1].Key {
					t.Errorf("%+v", s)
				}
			},
		},
		{
			name:     "a session id reused hours later without an Accounting-On: two sessions",
			recs:     new(rb).session("1", "u@aimnet.com", 0, 2*min).session("1", "u@aimnet.com", 3*time.Hour, 3*time.Hour+min),
			want:     "session SESSION start; session SESSION stop; session SESSION start; session SESSION stop",
			sessions: 2,
		},
		{
			name: "realm forms in mixed case",
			recs: new(rb).session("a", "Bob@AimNet.COM", 0, min).session("b", `CONNECT.COM\carol`, 0, min).
				session("c", "dave%Example.NET", 0, min).session("d", "x@y@aimnet.com", 0, min),
			want:     "session SESSION start; session SESSION stop; irrelevant HOME_IS_LOCAL; irrelevant HOME_IS_LOCAL; session SESSION start; session SESSION stop; session SESSION start; session SESSION stop",
			sessions: 3,
			check: func(t *testing.T, s []SessionRow) {
				got := fmt.Sprint(s[0].UserName(), s[0].Home, " ", s[1].UserName(), s[1].Home, " ", s[2].UserName(), s[2].Home)
				if got != "Bob@aimnet.comISPA dave@example.netISPC x@y@aimnet.comISPA" {
					t.Errorf("%s", got)
				}
			},
		},
		{
			name: "errors, in rule order",
			recs: new(rb).
				add(statusStop, "1", "u@aimnet.com", min, 60, func(r *Rec) { r.Sender = "ISPZ" }).
				add(statusStop, "2", "", min, 60).
				add(statusStop, "3", "@aimnet.com", min, 60).
				add(statusStop, "4", "nobody", min, 60).
				add(statusStop, "5", "u@nowhere.org", min, 60).
				add(statusStop, "6", "u@aimnet.com", 30*24*time.Hour, MaxDuration+1).
				add(statusStop, "7", "u@aimnet.com", min, 60, func(r *Rec) { r.InputOctets, r.Problem = Null, "too large" }).
				add(statusStop, "8", "u@aimnet.com", 49*time.Hour, 60).
				add(statusStop, "9", "u@nowhere.org", 49*time.Hour, MaxDuration+1),
			want: "rejected UNKNOWN_SENDER; rejected NO_USER; rejected NO_USER; rejected NO_REALM; rejected UNKNOWN_REALM; rejected BAD_DURATION; " +
				"rejected BAD_COUNTER; rejected FUTURE_EVENT; rejected UNKNOWN_REALM",
		},
		{
			name: "duplicates come before errors",
			recs: new(rb).add(statusStop, "1", "u@nowhere.org", min, 60).add(statusStop, "1", "u@nowhere.org", min, 60),
			want: "rejected UNKNOWN_REALM; duplicate DUPLICATE of 1",
		},
		{
			name:     "a zero-duration session is irrelevant whole",
			recs:     new(rb).session("z", "u@aimnet.com", 0, 0),
			want:     "irrelevant ZERO_DURATION; irrelevant ZERO_DURATION",
			sessions: 0,
		},
		{
			name: "start and interim only: estimated, ending at the interim",
			recs: new(rb).add(statusStart, "e", "u@aimnet.com", 0, 0).
				add(statusInterim, "e", "u@aimnet.com", 10*min, 600, func(r *Rec) { r.InputOctets = 5 }),
			want:     "session SESSION start; session SESSION last",
			sessions: 1,
			check: func(t *testing.T, s []SessionRow) {
				if !s[0].Estimated || s[0].Duration != 600 || !s[0].Stop.Equal(t0.Add(10*min)) || s[0].InputOctets != 5 {
					t.Errorf("%+v", s[0])
				}
			},
		},
		{
			name: "a late stop replaces the estimate: interim superseded, same key",
			recs: new(rb).add(statusStart, "e", "u@aimnet.com", 0, 0).
				add(statusInterim, "e", "u@aimnet.com", 10*min, 600).
				add(statusStop, "e", "u@aimnet.com", 20*min+time.Second, 1201, func(r *Rec) { r.Sequence = 2 }),
			want:     "session SESSION start; irrelevant SUPERSEDED interim; session SESSION stop",
			sessions: 1,
			check: func(t *testing.T, s []SessionRow) {
				if s[0].Estimated || s[0].Duration != 1201 || s[0].Key != "ISPB|nas1|20260630T180000Z|e" {
					t.Errorf("%+v", s[0])
				}
			},
		},
		{
			name: "interims without a start: start derived, and said so",
			recs: new(rb).add(statusInterim, "i", "u@aimnet.com", 10*min, 600).
				add(statusStop, "i", "u@aimnet.com", 20*min+2*time.Second, 1200),
			want:     "irrelevant SUPERSEDED interim; session SESSION stop",
			sessions: 1,
			check: func(t *testing.T, s []SessionRow) {
				if !s[0].StartDerived || !s[0].Start.Equal(t0.Add(2*time.Second)) || s[0].StartEntry != 0 {
					t.Errorf("%+v", s[0])
				}
			},
		},
		{
			name: "a stop without counters keeps the last interim's; a counter going down is flagged",
			recs: new(rb).add(statusStart, "c", "u@aimnet.com", 0, 0).
				add(statusInterim, "c", "u@aimnet.com", 5*min, 300, func(r *Rec) { r.InputOctets, r.OutputOctets = 4_000_000_000, 7 }).
				add(statusInterim, "c", "u@aimnet.com", 10*min, 600, func(r *Rec) { r.InputOctets, r.OutputOctets = 100, 9 }).
				add(statusStop, "c", "u@aimnet.com", 15*min, 900, func(r *Rec) { r.InputOctets, r.OutputOctets, r.InputPackets, r.OutputPackets = 0, 0, 0, 0 }),
			want:     "session SESSION start; irrelevant SUPERSEDED interim; irrelevant SUPERSEDED interim; session SESSION stop",
			sessions: 1,
			check: func(t *testing.T, s []SessionRow) {
				if s[0].InputOctets != 100 || s[0].OutputOctets != 9 || !s[0].CounterReset {
					t.Errorf("%+v", s[0])
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bounds []time.Time
			for _, b := range tc.bounds {
				bounds = append(bounds, t0.Add(b))
			}
			res, sessions := Classify(tc.recs.recs, bounds, p)
			if got := results(res); got != tc.want {
				t.Errorf("results\n got %s\nwant %s", got, tc.want)
			}
			if len(sessions) != tc.sessions {
				t.Fatalf("%d sessions, want %d: %+v", len(sessions), tc.sessions, sessions)
			}
			if tc.check != nil {
				tc.check(t, sessions)
			}
			for i, r := range res {
				if r.Outcome == Session || r.Reason == ReasonSuperseded {
					if r.SessionKey == "" {
						t.Errorf("record %d has no session key", i+1)
					}
				}
			}
		})
	}
}
