package report

import (
	"cmp"
	"fmt"
	"strconv"

	"roamsettle/pkg/store"
)

// order compares two lines in DT order: stop time, user, session id, key.
func order(a, b *Line) int {
	return cmp.Or(cmp.Compare(a.StopUTC, b.StopUTC), cmp.Compare(a.UserName, b.UserName),
		cmp.Compare(a.SessionID, b.SessionID), cmp.Compare(a.SessionKey, b.SessionKey))
}

// same says whether a session was reported as it is rated now: the same
// session content (digest) and the same price.
func same(a, b *Line) bool {
	return a.Digest == b.Digest && a.TariffLine == b.TariffLine && a.Billed == b.Billed &&
		a.Provider == b.Provider && a.Consumer == b.Consumer && a.Fee == b.Fee
}

// Change kinds in CHANGES.csv.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// merger walks a reported revision's charges beside the lines of a new
// one, both in DT order, and calls fn for each session added, removed or
// changed (old or new nil for the first two).
type merger struct {
	old     stream
	cur     Line // the old line under the cursor
	has, ok bool // has: cur holds a line; ok: the old walk can go on
	fn      func(kind string, o, n *Line) error
}

func newMerger(old stream, fn func(kind string, o, n *Line) error) *merger {
	m := &merger{old: old, fn: fn, ok: true}
	m.advance()
	return m
}

func (m *merger) advance() {
	m.has = m.ok && m.old.Next()
	if m.has {
		m.cur = *m.old.Row()
	} else {
		m.ok = false
	}
}

func (m *merger) next(n *Line) error {
	for m.has && order(&m.cur, n) < 0 {
		if err := m.fn(Removed, &m.cur, nil); err != nil {
			return err
		}
		m.advance()
	}
	if m.has && order(&m.cur, n) == 0 {
		var err error
		if !same(&m.cur, n) {
			err = m.fn(Changed, &m.cur, n)
		}
		m.advance()
		return err
	}
	return m.fn(Added, nil, n)
}

func (m *merger) end() error {
	for m.has {
		if err := m.fn(Removed, &m.cur, nil); err != nil {
			return err
		}
		m.advance()
	}
	m.old.Close()
	return m.old.Err()
}

// describe is one line for a person about a change.
func describe(kind string, o, n *Line) string {
	switch kind {
	case Added:
		return fmt.Sprintf("added %s (%s, %d s, provider %s)", n.SessionKey, n.UserName, n.Duration, cents(n.Provider))
	case Removed:
		return fmt.Sprintf("removed %s (%s, was %d s, provider %s)", o.SessionKey, o.UserName, o.Duration, cents(o.Provider))
	}
	return fmt.Sprintf("changed %s (%s): %d s, provider %s -> %d s, provider %s", n.SessionKey, n.UserName, o.Duration, cents(o.Provider), n.Duration, cents(n.Provider))
}

type diffResult struct {
	n     int64
	first []string
}

// diff compares a reported revision's charges with the period's history
// rated now.
func (r *reporter) diff(rep store.Report) (diffResult, error) {
	var d diffResult
	old, err := r.tx.OpenCharges(rep)
	if err != nil {
		return d, err
	}
	cur, err := r.rated()
	if err != nil {
		old.Close()
		return d, err
	}
	defer cur.Close()
	m := newMerger(chargeStream{old}, func(kind string, o, n *Line) error {
		d.n++
		if len(d.first) < 20 {
			d.first = append(d.first, describe(kind, o, n))
		}
		return nil
	})
	for cur.Next() {
		if err := m.next(cur.Row()); err != nil {
			return d, err
		}
	}
	if err := cur.Err(); err != nil {
		return d, err
	}
	return d, m.end()
}

// changes writes a revision's CHANGES.csv: all of them in the operator's
// folder, each ISP's own in its folder.
type changes struct {
	*merger
}

const changesHeader = "change,session_key,local_isp,home_isp,user_name,old_seconds,old_billed_seconds,old_provider,old_consumer,old_fee," +
	"new_seconds,new_billed_seconds,new_provider,new_consumer,new_fee\n"

func (r *reporter) newChanges(b *builder, old store.Report) (*changes, error) {
	oc, err := r.tx.OpenCharges(old)
	if err != nil {
		return nil, err
	}
	c := &changes{}
	files := map[string]*file{}
	for _, dir := range b.dirs() {
		f, err := b.create(dir, "CHANGES.csv")
		if err != nil {
			oc.Close()
			return nil, err
		}
		f.Write([]byte(changesHeader))
		files[dir] = f
	}
	c.merger = newMerger(chargeStream{oc}, func(kind string, o, n *Line) error {
		rec := []string{kind}
		x := n
		if x == nil {
			x = o
		}
		rec = append(rec, x.SessionKey, x.Local, x.Home, x.UserName)
		for _, l := range []*Line{o, n} {
			if l == nil {
				rec = append(rec, "", "", "", "", "")
			} else {
				rec = append(rec, strconv.FormatInt(l.Duration, 10), strconv.FormatInt(l.Billed, 10), cents(l.Provider), cents(l.Consumer), cents(l.Fee))
			}
		}
		for _, dir := range []string{OperatorDir, x.Local, x.Home} {
			if f, ok := files[dir]; ok {
				if err := writeCSV(f, rec); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return c, nil
}
