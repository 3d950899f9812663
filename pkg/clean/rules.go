package clean

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/nai"
)

// Status types as the raw table spells them.
const (
	statusStart   = "Start"
	statusStop    = "Stop"
	statusInterim = "Interim-Update"
	statusOn      = "Accounting-On"
	statusOff     = "Accounting-Off"
)

// Limits of the rules.
const (
	// MaxDuration is the longest session time accepted (BAD_DURATION).
	MaxDuration = 7 * 24 * 60 * 60
	// Tolerance is how far apart the derived starts (event time minus
	// session time) of one session's records may be: they wobble by a
	// few seconds of clock and network jitter, while a session id reused
	// after a reboot starts far later. It is the edge's own
	// (spool.StartTolerance). Two copies of a record that the NAS did
	// not stamp are duplicates when their event times (receipt minus
	// delay) are this close.
	Tolerance = 5 * time.Minute
)

// Null marks a counter the raw table holds as NULL (it did not fit).
const Null = -1

// Rec is one raw record as the rules see it. Lineage (sender, sequence,
// member, line) orders copies of a record the same way whatever order the
// batches were loaded in; entry ids do not. Member ids are compared only
// within one batch, where their order is the manifest's.
type Rec struct {
	EntryID      int64
	Sender       string // the batch's sender: the local ISP
	Sequence     uint64
	Member       int64
	Line         int64
	BatchCreated time.Time

	StatusType     string
	SessionID      string
	UserNameSent   string
	NAS            string
	SessionTime    int64
	EventTime      time.Time
	EventStamped   bool
	Received       time.Time
	InputOctets    int64 // Null when not held
	OutputOctets   int64
	InputPackets   int64
	OutputPackets  int64
	TerminateCause string
	Problem        string // raw.problem: a value the row could not hold
}

// NASControl says whether r is an Accounting-On or -Off.
func (r *Rec) NASControl() bool { return r.StatusType == statusOn || r.StatusType == statusOff }

// DerivedStart is the session start r implies: event time minus session time.
func (r *Rec) DerivedStart() time.Time {
	return r.EventTime.Add(-time.Duration(r.SessionTime) * time.Second)
}

// Result is the outcome of one record.
type Result struct {
	Outcome     Outcome
	Reason      string
	Pair        string // raw.pair_status: start, stop, last (of an estimated session), interim; "" for none
	SessionKey  string // the session it belongs (or, superseded or zero, belonged) to
	DuplicateOf int64  // entry id of the record it duplicates
}

// Pair statuses.
const (
	PairStart   = "start"
	PairStop    = "stop"
	PairLast    = "last" // the final record of an estimated session (no Stop)
	PairInterim = "interim"
)

// SessionRow is one session of the history: a pure function of its
// records, so a rebuild gives it again column for column.
type SessionRow struct {
	Key          string
	Local        string // the local ISP: the batches' sender
	Home         string // the home ISP: the partner owning the realm
	User         string // user part as sent
	Realm        string // lower case
	NAS          string
	SessionID    string
	Start, Stop  time.Time
	Zone         *time.Location // the local ISP's zone, for local times
	Duration     int64
	InputOctets  int64
	OutputOctets int64
	InputPackets int64
	OutputPkts   int64
	TermCause    string
	Estimated    bool // no Stop: it ends at its last record
	StartDerived bool // no Start: start is event time minus session time
	CounterReset bool // a counter went down between its records
	Records      int  // raw records of the session (Start, final, superseded)
	StartEntry   int64
	FinalEntry   int64
}

// UserName is the normalised user@realm, realm in lower case.
func (s *SessionRow) UserName() string { return s.User + "@" + s.Realm }

// Period is the calendar month (UTC) of the session's stop: YYYY-MM.
func (s *SessionRow) Period() string { return s.Stop.UTC().Format("2006-01") }

// SessionKey names a session: local ISP, NAS, start (UTC, to the second)
// and the session id last, so an id holding any character stays readable.
func SessionKey(sender, nas string, start time.Time, sid string) string {
	return sender + "|" + nas + "|" + start.UTC().Format("20060102T150405Z") + "|" + sid
}

// Classify applies the rules to the records of one group: every record of
// one sender, NAS and session id (all of them, old and new: a group is
// always judged whole, which is what makes an incremental run equal a
// rebuild). bounds are the event times of the NAS's Accounting-On/Off
// records: no session spans one. It returns one Result per record, in
// order, and the group's sessions.
func Classify(recs []Rec, bounds []time.Time, partners *config.Partners) ([]Result, []SessionRow) {
	res := make([]Result, len(recs))
	idx := make([]int, 0, len(recs))
	for i := range recs {
		if recs[i].NASControl() {
			res[i] = Result{Outcome: Irrelevant, Reason: ReasonOnOff}
			continue
		}
		idx = append(idx, i)
	}
	idx = dedup(recs, res, idx, bounds)
	idx = reject(recs, res, idx, partners)
	sessions := pair(recs, res, idx, bounds, partners)
	byEntry := make(map[int64]int, len(recs))
	for i := range recs {
		byEntry[recs[i].EntryID] = i
	}
	for i := range res { // a duplicate follows its original into its session
		if res[i].Outcome == Duplicate {
			res[i].SessionKey = res[byEntry[res[i].DuplicateOf]].SessionKey
		}
	}
	return res, sessions
}

// canonical orders copies of a record: the first received, then by
// lineage. It does not depend on the order batches were loaded in.
func canonical(a, b *Rec) int {
	return cmp.Or(a.Received.Compare(b.Received), cmp.Compare(a.Sender, b.Sender), cmp.Compare(a.Sequence, b.Sequence),
		cmp.Compare(a.Member, b.Member), cmp.Compare(a.Line, b.Line), cmp.Compare(a.EntryID, b.EntryID))
}

// dupKey is what makes two records the same record: never timestamps
// alone, and the event time only where the NAS stamped it.
type dupKey struct {
	sender, nas, sid, status string
	sessionTime              int64
	in, out, inPk, outPk     int64
	stamped                  bool
}

func keyOf(r *Rec) dupKey {
	return dupKey{r.Sender, r.NAS, r.SessionID, r.StatusType, r.SessionTime, r.InputOctets, r.OutputOctets,
		r.InputPackets, r.OutputPackets, r.EventStamped}
}

// dedup marks the copies of each record DUPLICATE of the first (in
// canonical order) and returns the others. Copies have the same key and
// event times equal (stamped) or within Tolerance (receipt minus delay)
// with no reboot of the NAS between them; a key seen far apart in time,
// or on both sides of an Accounting-On, is a reused session id, not a copy.
func dedup(recs []Rec, res []Result, idx []int, bounds []time.Time) []int {
	order := slices.Clone(idx)
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := keyOf(&recs[a]), keyOf(&recs[b])
		if ka != kb {
			return compareKeys(ka, kb)
		}
		return cmp.Or(recs[a].EventTime.Compare(recs[b].EventTime), canonical(&recs[a], &recs[b]))
	})
	var keep []int
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && sameRecord(&recs[order[end-1]], &recs[order[end]], bounds) {
			end++
		}
		chain := order[start:end]
		first := slices.MinFunc(chain, func(a, b int) int { return canonical(&recs[a], &recs[b]) })
		for _, i := range chain {
			if i != first {
				res[i] = Result{Outcome: Duplicate, Reason: ReasonDuplicate, DuplicateOf: recs[first].EntryID}
			}
		}
		keep = append(keep, first)
		start = end
	}
	slices.Sort(keep)
	return keep
}

func sameRecord(a, b *Rec, bounds []time.Time) bool {
	if keyOf(a) != keyOf(b) {
		return false
	}
	if a.EventStamped {
		return a.EventTime.Equal(b.EventTime)
	}
	d := b.EventTime.Sub(a.EventTime)
	return d >= -Tolerance && d <= Tolerance && !between(bounds, a.EventTime, b.EventTime)
}

// between says whether a reboot (a bound) lies in (a, b].
func between(bounds []time.Time, a, b time.Time) bool {
	if b.Before(a) {
		a, b = b, a
	}
	for _, t := range bounds {
		if a.Before(t) && !b.Before(t) {
			return true
		}
	}
	return false
}

func compareKeys(a, b dupKey) int {
	return cmp.Or(cmp.Compare(a.sender, b.sender), cmp.Compare(a.nas, b.nas), cmp.Compare(a.sid, b.sid),
		cmp.Compare(a.status, b.status), cmp.Compare(a.sessionTime, b.sessionTime), cmp.Compare(a.in, b.in),
		cmp.Compare(a.out, b.out), cmp.Compare(a.inPk, b.inPk), cmp.Compare(a.outPk, b.outPk), boolCmp(a.stamped, b.stamped))
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// reject applies the error rules (rejected) and HOME_IS_LOCAL
// (irrelevant), in DESIGN.md's order, and returns the records left.
func reject(recs []Rec, res []Result, idx []int, partners *config.Partners) []int {
	var keep []int
	for _, i := range idx {
		r := &recs[i]
		if code := errorOf(r, partners); code != "" {
			res[i] = Result{Outcome: Rejected, Reason: code}
			continue
		}
		if home, _ := homeOf(r, partners); home == r.Sender {
			res[i] = Result{Outcome: Irrelevant, Reason: ReasonHomeIsLocal}
			continue
		}
		keep = append(keep, i)
	}
	return keep
}

// errorOf returns the first error rule r breaks, "" for none.
func errorOf(r *Rec, partners *config.Partners) string {
	if _, ok := partners.ByID(r.Sender); !ok {
		return ReasonUnknownSender
	}
	user, realm := nai.Split(r.UserNameSent)
	switch {
	case strings.TrimSpace(user) == "":
		return ReasonNoUser
	case strings.TrimSpace(realm) == "":
		return ReasonNoRealm
	}
	if _, ok := partners.ByRealm(realm); !ok {
		return ReasonUnknownRealm
	}
	switch {
	case r.SessionTime < 0 || r.SessionTime > MaxDuration:
		return ReasonBadDuration
	case r.Problem != "" || r.InputOctets == Null || r.OutputOctets == Null || r.InputPackets == Null || r.OutputPackets == Null:
		return ReasonBadCounter
	case r.EventTime.After(r.BatchCreated):
		return ReasonFutureEvent
	}
	return ""
}

// homeOf is the home ISP of r's realm.
func homeOf(r *Rec, partners *config.Partners) (string, string) {
	_, realm := nai.Split(r.UserNameSent)
	p, ok := partners.ByRealm(realm)
	if !ok {
		return "", ""
	}
	return p.ID, strings.ToLower(realm)
}

var statusRank = map[string]int{statusStart: 0, statusInterim: 1, statusStop: 2}

// pair groups the records left into sessions: sorted by derived start, a
// new session begins where two neighbours are more than Tolerance apart or
// an Accounting-On/Off of the NAS lies between them. Each session's own
// records are its first Start and the record with its final figures; the
// others are SUPERSEDED; a session of duration 0 is ZERO_DURATION whole.
func pair(recs []Rec, res []Result, idx []int, bounds []time.Time, partners *config.Partners) []SessionRow {
	order := slices.Clone(idx)
	slices.SortFunc(order, func(a, b int) int {
		ra, rb := &recs[a], &recs[b]
		return cmp.Or(cmp.Compare(ra.Sender, rb.Sender), cmp.Compare(ra.NAS, rb.NAS), cmp.Compare(ra.SessionID, rb.SessionID),
			ra.DerivedStart().Compare(rb.DerivedStart()), ra.EventTime.Compare(rb.EventTime),
			cmp.Compare(statusRank[ra.StatusType], statusRank[rb.StatusType]), canonical(ra, rb))
	})
	var out []SessionRow
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && together(&recs[order[end-1]], &recs[order[end]], bounds) {
			end++
		}
		if s, ok := session(recs, res, order[start:end], partners); ok {
			out = append(out, s)
		}
		start = end
	}
	return out
}

// together says whether two neighbours (by derived start) are one session.
func together(a, b *Rec, bounds []time.Time) bool {
	if a.Sender != b.Sender || a.NAS != b.NAS || a.SessionID != b.SessionID {
		return false
	}
	da, db := a.DerivedStart(), b.DerivedStart()
	return db.Sub(da) <= Tolerance && !between(bounds, da, db)
}

// session makes one session of its records (sorted by derived start) and
// sets their results; false when its duration is 0.
func session(recs []Rec, res []Result, members []int, partners *config.Partners) (SessionRow, bool) {
	var startIdx, finalIdx = -1, -1
	for _, i := range members {
		r := &recs[i]
		if r.StatusType == statusStart && (startIdx < 0 || earlier(r, &recs[startIdx])) {
			startIdx = i
		}
		if finalIdx < 0 || later(r, &recs[finalIdx]) {
			finalIdx = i
		}
	}
	final := &recs[finalIdx]
	s := SessionRow{Local: final.Sender, NAS: final.NAS, SessionID: final.SessionID, Stop: final.EventTime.UTC(),
		Duration: final.SessionTime, TermCause: final.TerminateCause, Estimated: final.StatusType != statusStop,
		Records: len(members), FinalEntry: final.EntryID, InputOctets: final.InputOctets, OutputOctets: final.OutputOctets,
		InputPackets: final.InputPackets, OutputPkts: final.OutputPackets}
	if startIdx >= 0 {
		s.Start, s.StartEntry = recs[startIdx].EventTime.UTC(), recs[startIdx].EntryID
	} else {
		s.Start, s.StartDerived = final.DerivedStart().UTC(), true
	}
	s.User, _ = nai.Split(final.UserNameSent)
	s.Home, s.Realm = homeOf(final, partners)
	if p, ok := partners.ByID(s.Local); ok {
		s.Zone = p.Timezone
	}
	s.Key = SessionKey(s.Local, s.NAS, s.Start, s.SessionID)
	countersOf(&s, recs, members, final)

	for _, i := range members {
		r := &res[i]
		switch {
		case s.Duration == 0:
			*r = Result{Outcome: Irrelevant, Reason: ReasonZeroDuration}
		case i == startIdx:
			*r = Result{Outcome: Session, Reason: ReasonSession, Pair: PairStart}
		case i == finalIdx && !s.Estimated:
			*r = Result{Outcome: Session, Reason: ReasonSession, Pair: PairStop}
		case i == finalIdx:
			*r = Result{Outcome: Session, Reason: ReasonSession, Pair: PairLast}
		default:
			*r = Result{Outcome: Irrelevant, Reason: ReasonSuperseded, Pair: pairOf(recs[i].StatusType)}
		}
		r.SessionKey = s.Key
	}
	return s, s.Duration != 0
}

func pairOf(status string) string {
	switch status {
	case statusStart:
		return PairStart
	case statusStop:
		return PairStop
	}
	return PairInterim
}

// earlier orders Starts: the first by event time, then canonical.
func earlier(a, b *Rec) bool {
	return cmp.Or(a.EventTime.Compare(b.EventTime), canonical(a, b)) < 0
}

// later says whether a carries later final figures than b: a Stop beats
// any other record, then the later event time, the longer session time,
// and the canonical order (first wins).
func later(a, b *Rec) bool {
	as, bs := a.StatusType == statusStop, b.StatusType == statusStop
	if as != bs {
		return as
	}
	return cmp.Or(a.EventTime.Compare(b.EventTime), cmp.Compare(a.SessionTime, b.SessionTime), -canonical(a, b)) > 0
}

// countersOf sets the session's counters: the final record's, except that
// a final Stop without a counter keeps the last interim's (a NAS that
// sends none in its Stop); and flags a counter that goes down between
// records in event order (a 32-bit wrap without Gigawords, a NAS reset),
// which is never turned into a negative or a sum.
func countersOf(s *SessionRow, recs []Rec, members []int, final *Rec) {
	order := slices.Clone(members)
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(recs[a].EventTime.Compare(recs[b].EventTime), cmp.Compare(recs[a].SessionTime, recs[b].SessionTime),
			cmp.Compare(statusRank[recs[a].StatusType], statusRank[recs[b].StatusType]))
	})
	fields := []struct {
		dst *int64
		get func(*Rec) int64
	}{
		{&s.InputOctets, func(r *Rec) int64 { return r.InputOctets }},
		{&s.OutputOctets, func(r *Rec) int64 { return r.OutputOctets }},
		{&s.InputPackets, func(r *Rec) int64 { return r.InputPackets }},
		{&s.OutputPkts, func(r *Rec) int64 { return r.OutputPackets }},
	}
	for _, f := range fields {
		var prev int64
		var lastInterim int64
		for _, i := range order {
			v := f.get(&recs[i])
			if v < prev {
				s.CounterReset = true
			}
			prev = max(prev, v)
			if recs[i].StatusType == statusInterim && v > 0 {
				lastInterim = v
			}
		}
		if final.StatusType == statusStop && *f.dst == 0 && lastInterim > 0 {
			*f.dst = lastInterim
		}
	}
}

// String describes a result, for tests and logs.
func (r Result) String() string {
	s := string(r.Outcome) + " " + r.Reason
	if r.Pair != "" {
		s += " " + r.Pair
	}
	if r.DuplicateOf != 0 {
		s += fmt.Sprintf(" of %d", r.DuplicateOf)
	}
	return s
}
