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
// had records in two chunks) changes revision once. fresh says the group
// has no records but the run's own (a first run): its sessions are new.
func (c *cleaner) putSession(r *store.Session, fresh bool) error {
	if fresh {
		r.Revision = 1
		return c.tx.PutSession(r)
	}
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
		// Not changed by this run yet, unless a fresh group of this run
		// made it (those are not recorded as touched): then it is made of
		// this run's records only, and was not there before the run.
		if exists && cur.MaxEntry > c.from {
			exists = false
		}
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
		// As in putSession: a session a fresh group of this run made
		// was not there before it; its removal is no change.
		if err := c.tx.Touch(key, cur, cur.MaxEntry <= c.from); err != nil {
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
	sum := summary{in: c.scanned, reasons: map[string]int64{}}
	var judged int64
	for k, n := range c.buckets {
		if n == 0 {
			continue
		}
		judged += n
		out, ok := OutcomeOf(k[1])
		if !ok || string(out) != k[0] {
			return sum, fmt.Errorf("%d record(s) ended with outcome %q and reason %q, which no rule gives: nothing committed (a bug: please report it)",
				n, k[0], k[1])
		}
		sum.reasons[k[1]] += n
		switch out {
		case Session:
			sum.session += n
		case Duplicate:
			sum.duplicates += n
		case Irrelevant:
			sum.irrelevant += n
		case Rejected:
			sum.rejected += n
		}
	}
	if judged != sum.in || sum.in != sum.session+sum.duplicates+sum.irrelevant+sum.rejected {
		return sum, fmt.Errorf("reconciliation failed: %d records in, %d judged: %s: nothing committed", sum.in, judged, sum.balance())
	}
	// And from the database: every record of the run has its outcome row.
	if c.opts.Period == "" {
		n, err := c.tx.CountOutcomes(c.from, c.top)
		if err != nil {
			return sum, err
		}
		if n != sum.in || sum.in != c.top-c.from {
			return sum, fmt.Errorf("reconciliation failed: raw entries %d to %d (%d), %d read, %d with an outcome: nothing committed",
				c.from+1, c.top, c.top-c.from, sum.in, n)
		}
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
	now, err := c.tx.QueryInt64("SELECT count(*) FROM sessions")
	if err != nil {
		return sum, err
	}
	for _, ch := range changes {
		switch ch.Change {
		case "changed":
			run.SessionsChanged++
		case "removed":
			run.SessionsRemoved++
		}
	}
	run.SessionsAdded = now - c.sessionsBefore + run.SessionsRemoved
	if err := c.tx.AddRun(c.runID, run, changes); err != nil {
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
