package clean

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// Options are roamclean's switches.
type Options struct {
	// Rebuild judges every raw record again (with Period, the groups with
	// records around that month) instead of only those not cleaned yet.
	Rebuild bool
	Period  string // YYYY-MM, with Rebuild
	Now     func() time.Time
	// ChunkRecords is how many new records are judged at once; 0: 16384.
	ChunkRecords int
}

// Counts of the run's summary, in the order they are shown.
const (
	countIn         = "records"
	countSession    = "session_records"
	countDuplicates = "duplicates"
	countIrrelevant = "irrelevant"
	countRejected   = "rejected"
	countReclass    = "reclassified"
	countAdded      = "sessions_added"
	countChanged    = "sessions_changed"
	countRemoved    = "sessions_removed"
)

// groupKey is one sender's NAS and session id: the records the rules
// judge together.
type groupKey struct{ sender, nas, sid string }

// item is a record of a group with its outcome before this run.
type item struct {
	rec Rec
	was store.Outcome
}

type cleaner struct {
	ctx      context.Context
	run      *stage.Run
	tx       *store.CleanTx
	partners *config.Partners
	opts     Options
	runID    int64 // the run's id, on its outcome rows
	from     int64 // records with entry_id > from are this run's
	top      int64 // ... and <= top
	probe    bool  // look up each group's other records (not needed on a first run)
	seen     bloom // groups judged by this run (a few false "yes": an extra lookup)
	seed     maphash.Seed
	bounds   map[[2]string][]time.Time
	window   [2]time.Time // with a period rebuild: the event times judged
	// The run's reconciliation, kept as it goes: the final outcome of
	// each of its records (entry ids from+1..top, those of the window
	// with a period) counted once, whatever number of times its group
	// was judged.
	counted        bitset
	buckets        map[[2]string]int64 // (outcome, reason) -> records
	scanned        int64               // records of the run
	sessionsBefore int64               // sessions in the history when the run began
	pending        []*judged           // verdicts of the last chunk, not written yet
}

// bloom is a Bloom filter of 64-bit hashes: 16 bits and 4 probes per
// expected key, so memory stays a few bytes per record of the run.
type bloom bitset

func newBloom(keys int64) bloom {
	bits := min(max(16*keys, 1<<16), 1<<30)
	return bloom(make(bitset, bits/64))
}

func (b bloom) probes(h uint64, f func(int64) bool) bool {
	n := uint64(len(b)) * 64
	h1, h2 := h, h>>33|h<<31|1
	for i := uint64(0); i < 4; i++ {
		if !f(int64((h1 + i*h2) % n)) {
			return false
		}
	}
	return true
}

func (b bloom) add(h uint64)      { b.probes(h, func(i int64) bool { bitset(b).set(i); return true }) }
func (b bloom) has(h uint64) bool { return b.probes(h, bitset(b).has) }

// bitset is a set of small integers.
type bitset []uint64

func (b bitset) has(i int64) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) set(i int64)      { b[i>>6] |= 1 << (i & 63) }

// Clean judges the raw records not cleaned yet (or, with Rebuild, all of
// them) and updates the history, in one transaction. It returns an
// *stage.AttentionError (exit 3) when records of this run were rejected.
func Clean(ctx context.Context, run *stage.Run, s *config.Settlement, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ChunkRecords <= 0 {
		opts.ChunkRecords = 16384
	}
	for _, c := range []string{countIn, countSession, countDuplicates, countIrrelevant, countRejected, countReclass, countAdded, countChanged, countRemoved} {
		run.Add(c, 0)
	}
	if err := durable.MkdirAll(dirOf(s.DB), 0o755); err != nil {
		return err
	}
	db, err := store.Open(ctx, s.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	started := opts.Now()
	tx, err := db.BeginClean(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c := &cleaner{ctx: ctx, run: run, tx: tx, partners: s.Partners, opts: opts,
		seed: maphash.MakeSeed(), bounds: map[[2]string][]time.Time{}}
	if err := c.prepare(); err != nil {
		return err
	}
	if err := c.scan(); err != nil {
		return err
	}
	sum, err := c.finish(started)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	run.Log.Info("records in = session records + duplicates + irrelevant + rejected: " + sum.balance())
	if sum.rejected > 0 {
		return &stage.AttentionError{Msg: fmt.Sprintf("%d record(s) rejected (roamclean rejects --sender ISP lists them for their sender)", sum.rejected)}
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "."
}

// prepare finds the range of records this run takes.
func (c *cleaner) prepare() error {
	var err error
	if c.runID, err = c.tx.NextRunID(); err != nil {
		return err
	}
	wm, err := c.tx.QueryInt64("SELECT coalesce(max(last_entry_id), 0) FROM clean_runs")
	if err != nil {
		return err
	}
	if c.top, err = c.tx.QueryInt64("SELECT coalesce(max(entry_id), 0) FROM raw_data"); err != nil {
		return err
	}
	c.from = wm
	// Only a first run can skip looking up each group's older records:
	// there are none. A rebuild judges groups whole, never in pieces.
	c.probe = wm > 0 || c.opts.Rebuild
	if c.opts.Rebuild {
		c.from = 0
		if c.opts.Period != "" {
			p, err := time.Parse("2006-01", c.opts.Period)
			if err != nil {
				return stage.Usagef("--period %q: want YYYY-MM", c.opts.Period)
			}
			// A session of the month may have records up to MaxDuration
			// (and the tolerance) before it starts, and after it.
			margin := time.Duration(MaxDuration)*time.Second + Tolerance
			c.window = [2]time.Time{p.Add(-margin), p.AddDate(0, 1, 0).Add(margin)}
		}
	}
	c.counted = make(bitset, (c.top-c.from)/64+1)
	c.seen = newBloom(c.top - c.from)
	c.buckets = map[[2]string]int64{}
	if c.sessionsBefore, err = c.tx.QueryInt64("SELECT count(*) FROM sessions"); err != nil {
		return err
	}
	return c.tx.Exec(`CREATE TEMP TABLE touched (session_key TEXT PRIMARY KEY, old_revision INTEGER, old_digest TEXT) WITHOUT ROWID;
CREATE TEMP TABLE reclassified (entry_id INTEGER PRIMARY KEY)`)
}

// scan reads the run's records in entry order, a chunk at a time, and
// judges the groups each chunk touches.
func (c *cleaner) scan() error {
	bar := c.run.Progress("clean", "records", c.top-c.from)
	defer bar.Done()
	var chunk []item
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if err := c.ctx.Err(); err != nil {
			return err
		}
		err := c.chunk(chunk)
		bar.Add(int64(len(chunk)))
		chunk = chunk[:0]
		return err
	}
	err := c.tx.ScanRaw(c.from, c.top, func(r *store.CleanRecord) error {
		it, err := c.item(r)
		if err != nil {
			return err
		}
		if !c.inWindow(&it.rec) {
			return nil
		}
		c.scanned++
		chunk = append(chunk, it)
		if len(chunk) >= c.opts.ChunkRecords {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return c.flush()
}

// item turns a raw row into the rules' record.
func (c *cleaner) item(r *store.CleanRecord) (item, error) {
	b, ok := c.tx.Batch(r.BatchID)
	if !ok {
		return item{}, fmt.Errorf("raw entry %d: batch %d is not in batches", r.EntryID, r.BatchID)
	}
	return item{
		rec: Rec{EntryID: r.EntryID, Sender: b.Sender, Sequence: b.Sequence, Member: r.MemberID, Line: r.Line, BatchCreated: b.Created,
			StatusType: r.StatusType, SessionID: r.SessionID, UserNameSent: r.UserNameSent, NAS: r.NASID, SessionTime: r.SessionTime,
			EventTime: r.EventTime, EventStamped: r.EventStamped, Received: r.Received, InputOctets: r.InputOctets,
			OutputOctets: r.OutputOctets, InputPackets: r.InputPackets, OutputPackets: r.OutputPackets,
			TerminateCause: r.TerminateCause, Problem: r.Problem},
		was: store.Outcome{RecordStatus: r.RecordStatus, Reason: r.Reason, PairStatus: r.PairStatus, SessionKey: r.SessionKey, DuplicateOf: r.DuplicateOf},
	}, nil
}

func (c *cleaner) hash(k groupKey) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.sender)
	h.WriteByte(0)
	h.WriteString(k.nas)
	h.WriteByte(0)
	h.WriteString(k.sid)
	return h.Sum64()
}

// chunk judges every group with a record in the chunk, whole: with its
// other records when there may be any. An Accounting-On/Off also judges
// again the groups of its NAS that it may split.
//
// The work is split between two goroutines: this one alone uses the
// database; a second judges the chunk's fresh groups (no older records:
// nothing to read) while this one writes the previous chunk's verdicts.
// Groups that must read their older records are judged here, after those
// writes, so they read what the run has decided so far. Verdicts are
// written at the next chunk (or at the end: flush).
func (c *cleaner) chunk(items []item) error {
	// Each group's records as a piece of one copy of the chunk (the
	// verdicts outlive the scan's buffer): count, then fill.
	sizes := map[groupKey]int{}
	var order []groupKey
	ncontrols := 0
	for i := range items {
		r := &items[i].rec
		if r.NASControl() {
			ncontrols++
			continue
		}
		k := groupKey{r.Sender, r.NAS, r.SessionID}
		if _, ok := sizes[k]; !ok {
			order = append(order, k)
		}
		sizes[k]++
	}
	all := make([]item, 0, len(items))
	groups := make(map[groupKey][]item, len(order))
	for _, k := range order {
		groups[k] = all[len(all) : len(all) : len(all)+sizes[k]]
		all = all[:len(all)+sizes[k]]
	}
	controls := make([]item, 0, ncontrols)
	for i := range items {
		r := &items[i].rec
		if r.NASControl() {
			controls = append(controls, items[i])
			continue
		}
		k := groupKey{r.Sender, r.NAS, r.SessionID}
		groups[k] = append(groups[k], items[i]) // within its capacity: no growth
	}
	add := func(k groupKey) {
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			groups[k] = nil
		}
	}
	for _, it := range controls {
		if c.from > 0 {
			sids, err := c.tx.SessionIDsAround(it.rec.Sender, it.rec.NAS, it.rec.EventTime, Tolerance, time.Duration(MaxDuration)*time.Second)
			if err != nil {
				return err
			}
			for _, sid := range sids {
				add(groupKey{it.rec.Sender, it.rec.NAS, sid})
			}
		}
	}
	var fresh, probed []groupKey
	bounds := map[groupKey][]time.Time{}
	for _, k := range order {
		h := c.hash(k)
		if c.probe || c.seen.has(h) {
			probed = append(probed, k)
		} else {
			fresh = append(fresh, k)
		}
		c.seen.add(h)
		b, err := c.boundsOf(k.sender, k.nas)
		if err != nil {
			return err
		}
		bounds[k] = b
	}
	done := make(chan []*judged, 1)
	go func() {
		out := make([]*judged, 0, len(fresh))
		for _, k := range fresh {
			out = append(out, c.judge(groups[k], bounds[k], true))
		}
		done <- out
	}()
	err := c.flush()
	next := []*judged{c.judge(controls, nil, false)}
	for _, k := range probed {
		if err != nil {
			break
		}
		var its []item
		if its, err = c.probeGroup(k, groups[k]); err == nil {
			next = append(next, c.judge(its, bounds[k], false))
		}
	}
	c.pending = append(next, <-done...) // received even after an error: no goroutine left behind
	return err
}

// flush writes the verdicts waiting.
func (c *cleaner) flush() error {
	for _, j := range c.pending {
		if err := c.write(j); err != nil {
			return err
		}
	}
	c.pending = nil
	return nil
}

// probeGroup adds a group's older records to the chunk's, and gives the
// chunk's their outcomes so far (the scan reads them without).
func (c *cleaner) probeGroup(k groupKey, items []item) ([]item, error) {
	have := make(map[int64]int, len(items))
	for i := range items {
		have[items[i].rec.EntryID] = i
	}
	err := c.tx.GroupRecords(k.nas, k.sid, c.top, func(r *store.CleanRecord) error {
		if i, ok := have[r.EntryID]; ok {
			items[i].was = store.Outcome{RecordStatus: r.RecordStatus, Reason: r.Reason, PairStatus: r.PairStatus,
				SessionKey: r.SessionKey, DuplicateOf: r.DuplicateOf}
			return nil
		}
		it, err := c.item(r)
		if err != nil || it.rec.Sender != k.sender {
			return err
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

// judged is one group's verdict, ready to be written.
type judged struct {
	items    []item
	res      []Result
	sessions []*store.Session // with their digests
	before   map[string]bool  // the sessions the group made before
	fresh    bool             // no older records: its sessions are new
}

// judge applies the rules to a group and prepares its rows. It touches
// nothing of the cleaner's state but the partners (read only), so it runs
// on either goroutine.
func (c *cleaner) judge(items []item, bounds []time.Time, fresh bool) *judged {
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.rec.EntryID, b.rec.EntryID) })
	j := &judged{items: items, fresh: fresh}
	recs := make([]Rec, len(items))
	for i := range items {
		recs[i] = items[i].rec
		if w := items[i].was; w.RecordStatus == string(Session) && w.SessionKey != "" {
			if j.before == nil {
				j.before = map[string]bool{}
			}
			j.before[w.SessionKey] = true
		}
	}
	res, sessions := Classify(recs, bounds, c.partners)
	j.res = res
	for i := range sessions {
		r := row(&sessions[i])
		r.Digest = store.SessionDigest(r)
		j.sessions = append(j.sessions, r)
	}
	return j
}

// write writes what a verdict changed: outcomes, sessions, and the
// removal of sessions the group no longer makes.
func (c *cleaner) write(j *judged) error {
	for i := range j.items {
		if err := c.setOutcome(&j.items[i], j.res[i]); err != nil {
			return err
		}
	}
	for _, s := range j.sessions {
		delete(j.before, s.Key)
		if err := c.putSession(s, j.fresh); err != nil {
			return err
		}
	}
	for key := range j.before {
		if err := c.removeSession(key); err != nil {
			return err
		}
	}
	return nil
}

// boundsOf returns the event times of a sender's NAS's Accounting-On/Off
// records (all of them up to the run's last record).
func (c *cleaner) boundsOf(sender, nas string) ([]time.Time, error) {
	k := [2]string{sender, nas}
	if b, ok := c.bounds[k]; ok {
		return b, nil
	}
	var out []time.Time
	err := c.tx.NASControls(nas, c.top, func(r *store.CleanRecord) error {
		b, ok := c.tx.Batch(r.BatchID)
		if ok && b.Sender == sender && (r.StatusType == statusOn || r.StatusType == statusOff) {
			out = append(out, r.EventTime)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, time.Time.Compare)
	c.bounds[k] = out
	return out, nil
}

// inWindow says whether a record is of the run's window (all are, but
// with a period rebuild).
func (c *cleaner) inWindow(r *Rec) bool {
	return c.opts.Period == "" || (!r.EventTime.Before(c.window[0]) && r.EventTime.Before(c.window[1]))
}

// setOutcome writes a record's outcome when it changed, and counts the
// run's records by outcome: a record judged again (its group had records
// in two chunks) moves from the bucket of what it was to that of what it is.
func (c *cleaner) setOutcome(it *item, r Result) error {
	o := store.Outcome{RecordStatus: string(r.Outcome), Reason: r.Reason, PairStatus: r.Pair, SessionKey: r.SessionKey, DuplicateOf: r.DuplicateOf}
	if e := it.rec.EntryID; e > c.from && e <= c.top && c.inWindow(&it.rec) {
		i := e - c.from - 1
		if c.counted.has(i) {
			c.buckets[[2]string{it.was.RecordStatus, it.was.Reason}]--
		}
		c.counted.set(i)
		c.buckets[[2]string{o.RecordStatus, o.Reason}]++
	}
	if o == it.was {
		return nil
	}
	if it.rec.EntryID <= c.from && it.was.RecordStatus != "" {
		if err := c.tx.ExecInt("INSERT OR IGNORE INTO temp.reclassified VALUES (?)", it.rec.EntryID); err != nil {
			return err
		}
	}
	it.was = o
	return c.tx.SetOutcome(it.rec.EntryID, o, c.runID)
}
