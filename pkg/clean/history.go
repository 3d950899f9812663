package clean

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"roamsettle/pkg/store"
)

// row is a session as the sessions table holds it.
func row(s *SessionRow) *store.Session {
	return &store.Session{Key: s.Key, Period: s.Period(), LocalISP: s.Local, HomeISP: s.Home, UserName: s.UserName(),
		User: s.User, Realm: s.Realm, NASID: s.NAS, SessionID: s.SessionID, Start: s.Start, Stop: s.Stop, Zone: s.Zone,
		Duration: s.Duration, InputOctets: s.InputOctets, OutputOctets: s.OutputOctets, InputPackets: s.InputPackets,
		OutputPackets: s.OutputPkts, TerminateCause: s.TermCause, Estimated: s.Estimated, StartDerived: s.StartDerived,
		CounterReset: s.CounterReset, Records: int64(s.Records), StartEntryID: s.StartEntry, FinalEntryID: s.FinalEntry}
}

// putSession writes a session when its content changed. Its revision
// counts the runs that changed it: 1 as first made, one more for each run
// whose result differs from what the run before left (a late Stop
// replacing an estimate). A session written twice in one run (its group
// had records in two chunks) changes revision once.
func (c *cleaner) putSession(s *SessionRow) error {
	r := row(s)
	r.Digest = store.SessionDigest(r)
	cur, exists, err := c.tx.SessionState(r.Key)
	if err != nil {
		return err
	}
	if exists && cur.Digest == r.Digest {
		return nil
	}
	before, existed, touched, err := c.tx.Touched(r.Key)
	if err != nil {
		return err
	}
	if !touched {
		if err := c.tx.Touch(r.Key, cur, exists); err != nil {
			return err
		}
		before, existed = cur, exists
	}
	r.Revision = 1
	if existed {
		r.Revision = before.Revision
		if r.Digest != before.Digest {
			r.Revision++
		}
	}
	return c.tx.PutSession(r)
}

// removeSession deletes a session its group no longer makes (its records
// now make another, or none).
func (c *cleaner) removeSession(key string) error {
	cur, exists, err := c.tx.SessionState(key)
	if err != nil || !exists {
		return err
	}
	if _, _, touched, err := c.tx.Touched(key); err != nil {
		return err
	} else if !touched {
		if err := c.tx.Touch(key, cur, true); err != nil {
			return err
		}
	}
	return c.tx.DeleteSession(key)
}

// summary is the reconciliation of a run.
type summary struct {
	in, session, duplicates, irrelevant, rejected int64
	reasons                                       map[string]int64
}

func (s summary) balance() string {
	return fmt.Sprintf("%d = %d + %d + %d + %d", s.in, s.session, s.duplicates, s.irrelevant, s.rejected)
}

// finish counts the run's records by outcome from the database, checks
// that they balance and that every one has an outcome its reason allows,
// and records the run and its session changes. Any mismatch fails the run
// and nothing is committed.
func (c *cleaner) finish(started time.Time) (summary, error) {
	var from, to time.Time
	if c.opts.Period != "" {
		from, to = c.window[0], c.window[1]
	}
	counts, err := c.tx.OutcomeCounts(c.from, c.top, from, to)
	if err != nil {
		return summary{}, err
	}
	sum := summary{reasons: map[string]int64{}}
	for _, oc := range counts {
		sum.in += oc.N
		out, ok := OutcomeOf(oc.Reason)
		if !ok || string(out) != oc.RecordStatus {
			return sum, fmt.Errorf("%d record(s) ended with outcome %q and reason %q, which no rule gives: nothing committed (a bug: please report it)",
				oc.N, oc.RecordStatus, oc.Reason)
		}
		sum.reasons[oc.Reason] += oc.N
		switch out {
		case Session:
			sum.session += oc.N
		case Duplicate:
			sum.duplicates += oc.N
		case Irrelevant:
			sum.irrelevant += oc.N
		case Rejected:
			sum.rejected += oc.N
		}
	}
	if sum.in != sum.session+sum.duplicates+sum.irrelevant+sum.rejected {
		return sum, fmt.Errorf("reconciliation failed: records in %s: nothing committed", sum.balance())
	}
	reclass, err := c.tx.QueryInt64("SELECT count(*) FROM temp.reclassified")
	if err != nil {
		return sum, err
	}
	changes, err := c.tx.Changes()
	if err != nil {
		return sum, err
	}
	run := &store.CleanRun{Mode: "incremental", Period: c.opts.Period, StartedAt: store.FormatTime(started),
		FinishedAt: store.FormatTime(c.opts.Now()), RecordsIn: sum.in, SessionRecords: sum.session, Duplicates: sum.duplicates,
		Irrelevant: sum.irrelevant, Rejected: sum.rejected, Reclassified: reclass, Reasons: reasonsJSON(sum.reasons)}
	if c.opts.Rebuild {
		run.Mode = "rebuild"
	}
	if c.top > c.from {
		run.FirstEntryID, run.LastEntryID = c.from+1, c.top
	}
	for _, ch := range changes {
		switch ch.Change {
		case "added":
			run.SessionsAdded++
		case "changed":
			run.SessionsChanged++
		case "removed":
			run.SessionsRemoved++
		}
	}
	if _, err := c.tx.AddRun(run, changes); err != nil {
		return sum, err
	}
	r := c.run
	r.Add(countIn, sum.in)
	r.Add(countSession, sum.session)
	r.Add(countDuplicates, sum.duplicates)
	r.Add(countIrrelevant, sum.irrelevant)
	r.Add(countRejected, sum.rejected)
	r.Add(countReclass, reclass)
	r.Add(countAdded, run.SessionsAdded)
	r.Add(countChanged, run.SessionsChanged)
	r.Add(countRemoved, run.SessionsRemoved)
	for _, code := range sortedCodes(sum.reasons) {
		r.Add("reason_"+strings.ToLower(code), sum.reasons[code])
	}
	return sum, nil
}

// reasonsJSON is the counts per reason as a JSON object, keys in order.
func reasonsJSON(m map[string]int64) string {
	b, _ := json.Marshal(m) // map keys are sorted by encoding/json
	return string(b)
}

func sortedCodes(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
