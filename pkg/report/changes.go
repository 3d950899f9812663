package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"

	"roamsettle/pkg/store"
)

// Change kinds in CHANGES.csv.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// content hashes a period's lines, in DT order: two revisions with the
// same content hash reported the very same sessions at the very same
// prices.
type content struct {
	h   hash.Hash
	buf []byte
}

func newContent() *content { return &content{h: sha256.New()} }

func (c *content) add(l *Line) {
	b := c.buf[:0]
	for _, f := range [...]string{l.SessionKey, l.Digest, l.Local, l.Home, l.UserName, l.SessionID, l.StopUTC, l.StopLocal} {
		b = append(b, f...)
		b = append(b, 0x1f)
	}
	for i, n := range [...]int64{l.Duration, l.TariffLine, l.Billed, l.Provider, l.Consumer, l.Fee} {
		if i > 0 {
			b = append(b, 0x1f)
		}
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, '\n')
	c.h.Write(b)
	c.buf = b
}

func (c *content) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// hashOf walks a stream to its end and returns its content hash.
func hashOf(s stream) (string, error) {
	c := newContent()
	for s.Next() {
		c.add(s.Row())
	}
	return c.sum(), s.Err()
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

// compare fills the transaction's diff tables: a reported revision's
// charges against the lines of s, and counts the differences.
func (r *reporter) compare(old store.Report, s stream) (diffResult, error) {
	var d diffResult
	if err := r.tx.BeginDiff(old); err != nil {
		s.Close()
		return d, err
	}
	for s.Next() {
		if err := r.tx.AddCompared(s.Row()); err != nil {
			s.Close()
			return d, err
		}
	}
	if err := s.Err(); err != nil {
		return d, err
	}
	n, err := r.tx.DiffCount()
	if err != nil {
		return d, err
	}
	d.n = n
	err = r.tx.Diff(20, func(kind string, o, n *Line) error {
		d.first = append(d.first, describe(kind, o, n))
		return nil
	})
	return d, err
}

const changesHeader = "change,session_key,local_isp,home_isp,user_name,old_seconds,old_billed_seconds,old_provider,old_consumer,old_fee," +
	"new_seconds,new_billed_seconds,new_provider,new_consumer,new_fee\n"

// writeChanges writes a revision's CHANGES.csv from the diff tables, by
// session key: all of them in the operator's folder, each ISP's own in
// its folder.
func (r *reporter) writeChanges(b *builder) error {
	files := map[string]*file{}
	for _, dir := range b.dirs() {
		f, err := b.create(dir, "CHANGES.csv")
		if err != nil {
			return err
		}
		f.Write([]byte(changesHeader))
		files[dir] = f
	}
	return r.tx.Diff(0, func(kind string, o, n *Line) error {
		x := n
		if x == nil {
			x = o
		}
		rec := []string{kind, x.SessionKey, x.Local, x.Home, x.UserName}
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
}
