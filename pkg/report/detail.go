package report

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// detailSums sums a period's lines per (user, home, local): the rows of
// the detail reports. A month can hold a row per session, so memory is
// bounded: the sums are kept in a map of at most limit rows; when it is
// full its rows are sorted and written to a run file, and each sorts the
// rows of all runs together, summing the rows they share. A period that
// fits in memory never touches the disk.
type detailSums struct {
	dir   string // parent of the run folder
	limit int
	m     map[detailKey]*agg
	tmp   string // run folder, made at the first spill
	runs  []string
}

// detailLimit is the number of rows held in memory (about 150 bytes each).
const detailLimit = 1 << 17

func newDetailSums(dir string, limit int) *detailSums {
	return &detailSums{dir: dir, limit: limit, m: make(map[detailKey]*agg)}
}

func (d *detailSums) add(k detailKey, l *Line) error {
	a := d.m[k]
	if a == nil {
		if len(d.m) >= d.limit {
			if err := d.spill(); err != nil {
				return err
			}
		}
		a = &agg{}
		d.m[k] = a
	}
	a.add(l)
	return nil
}

func cmpKey(a, b detailKey) int {
	if c := strings.Compare(a.user, b.user); c != 0 {
		return c
	}
	if c := strings.Compare(a.home, b.home); c != 0 {
		return c
	}
	return strings.Compare(a.local, b.local)
}

func (d *detailSums) sorted() []detailKey {
	keys := make([]detailKey, 0, len(d.m))
	for k := range d.m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpKey)
	return keys
}

// spill writes the rows in memory to a new run file, sorted.
func (d *detailSums) spill() error {
	if d.tmp == "" {
		// Starts with "." and ends in tmpSuffix: a crashed run's is removed
		// by the next (removeLeftovers).
		tmp, err := os.MkdirTemp(d.dir, ".detail-*"+tmpSuffix)
		if err != nil {
			return err
		}
		d.tmp = tmp
	}
	name := filepath.Join(d.tmp, fmt.Sprintf("run%06d", len(d.runs)))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var buf []byte
	for _, k := range d.sorted() {
		buf = appendRow(buf[:0], k, d.m[k])
		w.Write(buf)
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("detail sums: %w", err)
	}
	d.runs = append(d.runs, name)
	clear(d.m)
	return nil
}

// A run row: the three strings, each length first, then the sums, as
// varints. Runs live only while a revision is written.
func appendRow(b []byte, k detailKey, a *agg) []byte {
	for _, s := range []string{k.user, k.home, k.local} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range []int64{a.sessions, a.seconds, a.billed, a.provider, a.consumer, a.fees} {
		b = binary.AppendVarint(b, n)
	}
	return b
}

type runReader struct {
	r    *bufio.Reader
	f    *os.File
	key  detailKey
	sums agg
}

func (r *runReader) next() (bool, error) {
	var s [3]string
	for i := range s {
		n, err := binary.ReadUvarint(r.r)
		if i == 0 && errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil || n > 1<<20 {
			return false, fmt.Errorf("detail sums %s: damaged run (%v)", r.f.Name(), err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r.r, b); err != nil {
			return false, fmt.Errorf("detail sums %s: %w", r.f.Name(), err)
		}
		s[i] = string(b)
	}
	r.key = detailKey{s[0], s[1], s[2]}
	for _, p := range []*int64{&r.sums.sessions, &r.sums.seconds, &r.sums.billed, &r.sums.provider, &r.sums.consumer, &r.sums.fees} {
		n, err := binary.ReadVarint(r.r)
		if err != nil {
			return false, fmt.Errorf("detail sums %s: damaged run (%v)", r.f.Name(), err)
		}
		*p = n
	}
	return true, nil
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return cmpKey(h[i].key, h[j].key) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// each calls f with every row in (user, home, local) order, then removes
// the runs.
func (d *detailSums) each(f func(detailKey, *agg) error) error {
	defer d.remove()
	if len(d.runs) == 0 {
		for _, k := range d.sorted() {
			if err := f(k, d.m[k]); err != nil {
				return err
			}
		}
		return nil
	}
	if len(d.m) > 0 {
		if err := d.spill(); err != nil {
			return err
		}
	}
	var h runHeap
	for _, name := range d.runs {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		r := &runReader{r: bufio.NewReaderSize(file, 256<<10), f: file}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		k := h[0].key
		var sum agg
		for len(h) > 0 && h[0].key == k {
			sum.plus(&h[0].sums)
			ok, err := h[0].next()
			if err != nil {
				return err
			}
			if ok {
				heap.Fix(&h, 0)
			} else {
				heap.Pop(&h)
			}
		}
		if err := f(k, &sum); err != nil {
			return err
		}
	}
	return nil
}

func (d *detailSums) remove() {
	if d.tmp != "" {
		os.RemoveAll(d.tmp)
		d.tmp, d.runs = "", nil
	}
	clear(d.m)
}
