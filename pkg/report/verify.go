package report

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"roamsettle/pkg/config"
	"roamsettle/pkg/rate"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// Verify recomputes a reported revision of a period (revision 0: the
// latest) from the history and the tariffs, and compares it with what is
// on disk, file by file, and with its charges. It writes what it finds to
// w; anything that differs makes it return an *stage.AttentionError
// (exit 3). It only reads: no lock, nothing written but a temporary
// folder it removes.
func Verify(ctx context.Context, s *config.Settlement, w io.Writer, period string, revision int64) error {
	if err := checkPeriod(period); err != nil {
		return err
	}
	db, err := store.OpenExisting(ctx, s.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginReport(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r := &reporter{ctx: ctx, s: s, opts: Options{Period: period}, tx: tx, fees: rate.Fees{PerSession: s.FeePerSession, PerMinute: s.FeePerMinute}}
	var rep store.Report
	var ok bool
	if revision == 0 {
		rep, ok, err = tx.LatestReport(period)
	} else {
		rep, ok, err = tx.ReportRevision(period, revision)
	}
	if err != nil {
		return err
	}
	if !ok {
		return stage.Usagef("%s revision %d was never reported", period, revision)
	}
	var problems []string
	// The charges as stored, against the hash recorded when they were
	// written and against the history rated now.
	stored, err := r.tx.OpenCharges(rep)
	if err != nil {
		return err
	}
	hStored, err := hashOf(chargeStream{stored})
	if err != nil {
		return err
	}
	if hStored != rep.ContentSHA256 {
		problems = append(problems, "charges: they are not what was written when the revision was reported (their content hash differs from the one recorded)")
	}
	cur, err := r.rated()
	if err != nil {
		return err
	}
	hCur, err := hashOf(cur)
	if err != nil {
		return err
	}
	if hCur != hStored {
		if cur, err = r.rated(); err != nil {
			return err
		}
		d, err := r.compare(rep, cur)
		if err != nil {
			return err
		}
		for _, p := range d.first {
			problems = append(problems, "charges: "+p)
		}
		if d.n > int64(len(d.first)) {
			problems = append(problems, fmt.Sprintf("charges: and %d more", d.n-int64(len(d.first))))
		}
	}
	// The files, written again, against those on disk.
	tmp, err := os.MkdirTemp("", "roamreport-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var old *store.Report
	if rep.Revision > 1 {
		prev, ok, err := tx.ReportRevision(period, rep.Revision-1)
		if err != nil {
			return err
		}
		if ok {
			old = &prev
			// CHANGES: the revision before against the history rated now.
			cur, err := r.rated()
			if err != nil {
				return err
			}
			if _, err := r.compare(prev, cur); err != nil {
				return err
			}
		}
	}
	lines, err := r.rated()
	if err != nil {
		return err
	}
	if _, err := r.build(filepath.Join(tmp, "v"), rep.Revision, rep.ID, lines, old, nil, nil); err != nil {
		return err
	}
	disk := filepath.Join(s.Reports, rep.Folder)
	files := 0
	for _, dir := range append(partnerIDs(s.Partners), OperatorDir) {
		n, ps, err := compareDirs(filepath.Join(tmp, "v", dir), filepath.Join(disk, dir), dir)
		if err != nil {
			return err
		}
		files += n
		problems = append(problems, ps...)
	}
	if len(problems) == 0 {
		_, err := fmt.Fprintf(w, "%s revision %d (%s): all %d files are identical to the history and tariffs rated again, and so are its %d charges\n",
			period, rep.Revision, disk, files, rep.Sessions)
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	return &stage.AttentionError{Msg: fmt.Sprintf("%s revision %d differs from its history and tariffs rated again in %d place(s) (if the history or tariffs changed since, roamreport --revise writes a new revision)",
		period, rep.Revision, len(problems))}
}

func partnerIDs(p *config.Partners) []string {
	var out []string
	for _, x := range sortedPartners(p) {
		out = append(out, x.ID)
	}
	return out
}

// compareDirs compares the files a verify wrote (want) with those on disk
// (got), and says how each differs: missing, extra, or the first line
// where they part.
func compareDirs(want, got, label string) (int, []string, error) {
	names := func(dir string) (map[string]bool, error) {
		ents, err := os.ReadDir(dir)
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		m := map[string]bool{}
		for _, e := range ents {
			m[e.Name()] = true
		}
		return m, nil
	}
	w, err := names(want)
	if err != nil {
		return 0, nil, err
	}
	g, err := names(got)
	if err != nil {
		return 0, nil, err
	}
	all := map[string]bool{}
	for n := range w {
		all[n] = true
	}
	for n := range g {
		all[n] = true
	}
	list := make([]string, 0, len(all))
	for n := range all {
		list = append(list, n)
	}
	sort.Strings(list)
	var problems []string
	for _, n := range list {
		at := filepath.Join(label, n)
		switch {
		case !g[n]:
			problems = append(problems, at+": missing on disk")
		case !w[n]:
			problems = append(problems, at+": on disk, but not part of the report")
		default:
			if p, err := firstDifference(filepath.Join(want, n), filepath.Join(got, n)); err != nil {
				return 0, nil, err
			} else if p != "" {
				problems = append(problems, at+": "+p)
			}
		}
	}
	return len(w), problems, nil
}

// firstDifference says where two files part: "" when they are the same.
func firstDifference(a, b string) (string, error) {
	fa, err := os.Open(a)
	if err != nil {
		return "", err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return "", err
	}
	defer fb.Close()
	ra, rb := bufio.NewReader(fa), bufio.NewReader(fb)
	for line := 1; ; line++ {
		la, ea := ra.ReadBytes('\n')
		lb, eb := rb.ReadBytes('\n')
		if !bytes.Equal(la, lb) {
			return fmt.Sprintf("line %d differs: want %q, on disk %q", line, bytes.TrimRight(la, "\n"), bytes.TrimRight(lb, "\n")), nil
		}
		if ea == io.EOF && eb == io.EOF {
			return "", nil
		}
		if ea != nil && ea != io.EOF {
			return "", ea
		}
		if eb != nil && eb != io.EOF {
			return "", eb
		}
	}
}
