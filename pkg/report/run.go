package report

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"roamsettle/pkg/clean"
	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/money"
	"roamsettle/pkg/rate"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// Options are roamreport's switches.
type Options struct {
	Period string // YYYY-MM; "" is the last complete month
	Revise bool   // write a new revision when the history changed
	Now    func() time.Time
	// Crash, when set, is called at named points (tests kill the process
	// there).
	Crash func(point string)
}

// Points at which Options.Crash is called.
const (
	CrashFilesWritten = "files-written" // the new folder complete beside the old, nothing committed
	CrashAfterCommit  = "after-commit"  // committed, the folder not in place yet
)

// Counts of the summary line.
const (
	countSessions   = "sessions"
	countRated      = "rated"
	countExceptions = "no_tariff"
	countChanged    = "changed"
	countRevision   = "revision"
	countImbalance  = "imbalance_minor_units" // nets + fees, 0 unless a bug
)

// DefaultPeriod is the last complete calendar month (UTC) before now.
func DefaultPeriod(now time.Time) string {
	y, m, _ := now.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01")
}

func checkPeriod(p string) error {
	if _, err := time.Parse("2006-01", p); err != nil {
		return stage.Usagef("--period %q: want YYYY-MM", p)
	}
	return nil
}

type reporter struct {
	ctx  context.Context
	run  *stage.Run
	s    *config.Settlement
	opts Options
	tx   *store.ReportTx
	fees rate.Fees
}

// Report rates a period and writes its reports, once: a second run on an
// unchanged history does nothing; on a changed one it refuses (exit 3)
// and names the sessions, until told to Revise, which writes the next
// revision beside the earlier ones.
func Report(ctx context.Context, run *stage.Run, s *config.Settlement, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Period == "" {
		opts.Period = DefaultPeriod(opts.Now())
	}
	if err := checkPeriod(opts.Period); err != nil {
		return err
	}
	for _, c := range []string{countSessions, countRated, countExceptions, countChanged, countRevision, countImbalance} {
		run.Add(c, 0)
	}
	if err := durable.MkdirAll(s.Reports, 0o755); err != nil {
		return err
	}
	db, err := store.Open(ctx, s.DB)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginReport(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r := &reporter{ctx: ctx, run: run, s: s, opts: opts, tx: tx, fees: rate.Fees{PerSession: s.FeePerSession, PerMinute: s.FeePerMinute}}
	return r.report()
}

func (r *reporter) crash(point string) {
	if r.opts.Crash != nil {
		r.opts.Crash(point)
	}
}

// folderOf is where a revision's folder is, relative to reports/.
func folderOf(period string, revision int64) string {
	if revision == 1 {
		return period
	}
	return filepath.Join(period, fmt.Sprintf("rev-%d", revision))
}

func (r *reporter) report() error {
	period := r.opts.Period
	removeLeftovers(r.s.Reports, period)
	latest, reported, err := r.tx.LatestReport(period)
	if err != nil {
		return err
	}
	revision := int64(1)
	var old *store.Report
	if reported {
		r.run.Add(countRevision, latest.Revision)
		cur, err := r.rated()
		if err != nil {
			return err
		}
		h, err := hashOf(cur)
		if err != nil {
			return err
		}
		if h == latest.ContentSHA256 {
			if complete(filepath.Join(r.s.Reports, latest.Folder), r.s.Partners) {
				r.run.Log.Info("period already reported; the history has not changed: nothing to do", "period", period,
					"revision", latest.Revision, "folder", filepath.Join(r.s.Reports, latest.Folder))
				return nil
			}
			// A crash between the commit and the folder's rename: write it
			// again from its charges.
			r.run.Log.Warn("the reported revision's folder is missing or incomplete; writing it again from its charges", "period", period, "revision", latest.Revision)
			return r.rewrite(latest)
		}
		if cur, err = r.rated(); err != nil {
			return err
		}
		d, err := r.compare(latest, cur)
		if err != nil {
			return err
		}
		r.run.Add(countChanged, d.n)
		if !r.opts.Revise {
			for _, line := range d.first {
				r.run.Log.Warn("changed since reported: " + line)
			}
			return &stage.AttentionError{Msg: fmt.Sprintf("%s was reported (revision %d) and %d session(s) of its history changed since (first: %s); "+
				"reports of a published period are never changed silently: run with --revise to write revision %d beside it",
				period, latest.Revision, d.n, strings.Join(d.first[:min(3, len(d.first))], "; "), latest.Revision+1)}
		}
		revision, old = latest.Revision+1, &latest
	}
	return r.write(revision, old)
}

// write rates the period, stores the charges and writes revision's folder
// beside any earlier one, then commits and puts the folder in place.
func (r *reporter) write(revision int64, old *store.Report) error {
	period := r.opts.Period
	reportID, first, err := r.tx.NewReport()
	if err != nil {
		return err
	}
	sum, err := tariffsSHA256(r.s.TariffsFile)
	if err != nil {
		return err
	}
	rep := &store.Report{ID: reportID, Period: period, Revision: revision, Folder: folderOf(period, revision),
		CreatedAt: store.FormatTime(r.opts.Now()), TariffsSHA256: sum, FirstCharge: first, LastCharge: first - 1}
	if rep.RejectsUpTo, err = r.tx.CleanedUpTo(); err != nil {
		return err
	}
	window, err := clean.RejectsOf("", period)
	if err != nil {
		return err
	}
	if err := r.tx.RecordRejects(reportID, window.From, window.To); err != nil {
		return err
	}
	total, err := r.tx.CountSessions(period)
	if err != nil {
		return err
	}
	lines, err := r.rated()
	if err != nil {
		return err
	}
	bar := r.run.Progress("report "+period, "sessions", total)
	defer bar.Done()
	next := first
	hash := newContent()
	put := func(l *Line) error {
		if err := r.tx.AddCharge(next, reportID, l); err != nil {
			return err
		}
		next++
		rep.LastCharge = next - 1
		if rep.Sessions++; rep.Sessions%1024 == 0 {
			bar.Add(1024)
		}
		if !rated(l) {
			rep.Exceptions++
			return nil
		}
		rep.Seconds += l.Duration
		rep.Billed += l.Billed
		rep.Provider += l.Provider
		rep.Consumer += l.Consumer
		rep.Fees += l.Fee
		return nil
	}
	tmp, err := r.tempBeside(revision)
	if err == nil {
		tmp, err = r.build(tmp, revision, reportID, lines, old, put, hash)
	}
	if err != nil {
		lines.Close()
		return err
	}
	defer os.RemoveAll(tmp)
	bar.Add(rep.Sessions - (rep.Sessions/1024)*1024)
	r.crash(CrashFilesWritten)
	rep.ContentSHA256 = hash.sum()
	if err := r.tx.AddReport(rep); err != nil {
		return err
	}
	if err := r.tx.Commit(); err != nil {
		return err
	}
	r.crash(CrashAfterCommit)
	if err := place(tmp, filepath.Join(r.s.Reports, rep.Folder)); err != nil {
		return fmt.Errorf("revision %d of %s is recorded but its folder could not be put in place (the next run does it): %w", revision, period, err)
	}
	r.run.Add(countSessions, rep.Sessions)
	r.run.Add(countRated, rep.Sessions-rep.Exceptions)
	r.run.Add(countExceptions, rep.Exceptions)
	r.run.Add(countRevision, revision-r.run.Count(countRevision))
	r.run.Log.Info("period reported", "period", period, "revision", revision, "folder", filepath.Join(r.s.Reports, rep.Folder),
		"sessions", rep.Sessions, "provider", money.Cents(rep.Provider).String(), "fees", money.Cents(rep.Fees).String())
	if rep.Exceptions > 0 {
		return &stage.AttentionError{Msg: fmt.Sprintf("%d session(s) of %s have no tariff (NO_TARIFF): not priced, listed in %s",
			rep.Exceptions, period, filepath.Join(r.s.Reports, rep.Folder, OperatorDir, "exceptions.csv"))}
	}
	return nil
}

// rewrite writes a reported revision's folder again from its charges.
func (r *reporter) rewrite(rep store.Report) error {
	lines, err := r.tx.OpenCharges(rep)
	if err != nil {
		return err
	}
	var old *store.Report
	if rep.Revision > 1 {
		prev, ok, err := r.tx.ReportRevision(rep.Period, rep.Revision-1)
		if err != nil {
			lines.Close()
			return err
		}
		if ok {
			old = &prev
			// Its CHANGES: the revision before against its own charges.
			mine, err := r.tx.OpenCharges(rep)
			if err != nil {
				lines.Close()
				return err
			}
			if _, err := r.compare(prev, chargeStream{mine}); err != nil {
				lines.Close()
				return err
			}
		}
	}
	tmp, err := r.tempBeside(rep.Revision)
	if err == nil {
		tmp, err = r.build(tmp, rep.Revision, rep.ID, chargeStream{lines}, old, nil, nil)
	}
	if err != nil {
		lines.Close()
		return err
	}
	defer os.RemoveAll(tmp)
	return place(tmp, filepath.Join(r.s.Reports, rep.Folder))
}

// stream is lines in DT order.
type stream interface {
	Next() bool
	Row() *Line
	Err() error
	Close()
}

type chargeStream struct{ *store.ChargeCursor }

// ratedStream rates the sessions of a period as they are read.
type ratedStream struct {
	c    *store.SessionCursor
	r    *reporter
	line Line
	err  error
}

func (r *reporter) rated() (*ratedStream, error) {
	c, err := r.tx.OpenSessions(r.opts.Period)
	if err != nil {
		return nil, err
	}
	return &ratedStream{c: c, r: r}, nil
}

func (s *ratedStream) Next() bool {
	if s.err != nil || !s.c.Next() {
		return false
	}
	x := s.c.Row()
	stop, err := store.ParseTime(x.StopUTC)
	if err == nil {
		var start time.Time
		if start, err = store.ParseLocal(x.StartLocal); err == nil {
			s.line = Line{SessionKey: x.Key, Digest: x.Digest, Local: x.Local, Home: x.Home, UserName: x.UserName,
				SessionID: x.SessionID, StopUTC: x.StopUTC, StopLocal: x.StopLocal, Duration: x.Duration}
			if c, ok := rate.Rate(rate.Session{Local: x.Local, Home: x.Home, Stop: stop, StartLocal: start, Duration: x.Duration},
				s.r.s.Tariffs, s.r.fees); ok {
				s.line.TariffLine, s.line.Billed = int64(c.Tariff.Line), c.BilledSeconds
				s.line.Provider, s.line.Consumer, s.line.Fee = int64(c.Provider), int64(c.Consumer), int64(c.Fee)
			}
			return true
		}
	}
	s.err = fmt.Errorf("session %s: %w", x.Key, err)
	s.c.Close()
	return false
}

func (s *ratedStream) Row() *Line { return &s.line }

func (s *ratedStream) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.c.Err()
}

func (s *ratedStream) Close() { s.c.Close() }

// tempBeside is the temporary folder a revision is written in, beside its
// final place (so the rename that puts it there is atomic).
func (r *reporter) tempBeside(revision int64) (string, error) {
	final := filepath.Join(r.s.Reports, folderOf(r.opts.Period, revision))
	if err := durable.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+tmpSuffix)
	return tmp, os.RemoveAll(tmp)
}

// build writes a revision's folder from its lines into tmp and returns
// it. Each line is also given to put (nil: none) and added to hash (nil:
// none). With old, the revision's CHANGES are written too, from the diff
// tables (compare).
//
// The lines are read, rated and stored (put) on this goroutine and the
// files written and hashed on another, a batch of lines at a time: the
// two halves take about as long, and the order of both is the lines'.
func (r *reporter) build(tmp string, revision, reportID int64, lines stream, old *store.Report, put func(*Line) error, hash *content) (string, error) {
	b, err := newBuilder(tmp, r.s.Partners, Header{Operator: r.s.Operator, Currency: r.s.Currency, Period: r.opts.Period, Revision: revision})
	if err != nil {
		return "", err
	}
	// The REJECTS files are read when the folder is finished, on the
	// transaction's connection (free by then), from the rejected records
	// the report recorded when it was written (RecordRejects): roamclean
	// may judge them otherwise since, the files do not change.
	b.rejects = func(isp string, w io.Writer) error {
		f := store.RejectsFilter{Sender: isp, Report: reportID}
		cw := csv.NewWriter(w)
		cw.Write(clean.RejectsHeader)
		if err := r.tx.Rejects(f, func(x *store.RejectRow) error { return cw.Write(clean.RejectRecord(x, r.s.Partners)) }); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	fail := func(err error) (string, error) {
		lines.Close()
		b.abort()
		os.RemoveAll(tmp)
		return "", err
	}
	if old != nil {
		if err := r.writeChanges(b); err != nil {
			return fail(err)
		}
	}
	w := startWriting(b, hash)
	batch := w.batch()
	for n := 0; lines.Next(); n++ {
		if n%4096 == 0 && r.ctx.Err() != nil {
			w.stop()
			return fail(r.ctx.Err())
		}
		l := lines.Row()
		if put != nil {
			if err := put(l); err != nil {
				w.stop()
				return fail(err)
			}
		}
		if batch = append(batch, *l); len(batch) == cap(batch) {
			if !w.send(batch) {
				return fail(w.stop())
			}
			batch = w.batch()
		}
	}
	if err := lines.Err(); err != nil {
		w.stop()
		return fail(err)
	}
	w.send(batch)
	if err := w.stop(); err != nil {
		return fail(err)
	}
	if err := b.finish(); err != nil {
		if ie := (*ImbalanceError)(nil); errors.As(err, &ie) {
			r.run.Add(countImbalance, ie.Nets+ie.Fees)
		}
		return fail(err)
	}
	return tmp, nil
}

// writing is the goroutine that gives lines to a builder.
type writing struct {
	batches chan []Line
	free    chan []Line
	failed  chan struct{} // closed when add failed
	done    chan struct{}
	err     error // add's first error; read after done
}

const batchLines = 1024

func startWriting(b *builder, hash *content) *writing {
	w := &writing{batches: make(chan []Line, 4), free: make(chan []Line, 6), failed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for batch := range w.batches {
			for i := 0; i < len(batch) && w.err == nil; i++ {
				if hash != nil {
					hash.add(&batch[i])
				}
				if err := b.add(&batch[i]); err != nil {
					w.err = err
					close(w.failed)
				}
			}
			select {
			case w.free <- batch[:0]:
			default:
			}
		}
	}()
	return w
}

func (w *writing) batch() []Line {
	select {
	case b := <-w.free:
		return b
	default:
		return make([]Line, 0, batchLines)
	}
}

// send hands a batch over; false when the writing failed.
func (w *writing) send(batch []Line) bool {
	select {
	case w.batches <- batch:
		return true
	case <-w.failed:
		return false
	}
}

// stop waits until every batch sent is written and returns add's error.
func (w *writing) stop() error {
	close(w.batches)
	<-w.done
	return w.err
}

// tmpSuffix ends the name of a folder being written.
const tmpSuffix = ".tmp"

// removeLeftovers removes the temporary folders a crashed run left.
func removeLeftovers(reports, period string) {
	for _, dir := range []string{reports, filepath.Join(reports, period)} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), tmpSuffix) {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// place renames a complete temporary folder into its final place. A
// revision 1 folder holds the later revisions' folders, so those move in
// with it when it is written again.
func place(tmp, final string) error {
	if old, err := os.Stat(final); err == nil && old.IsDir() {
		ents, err := os.ReadDir(final)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "rev-") {
				if err := os.Rename(filepath.Join(final, e.Name()), filepath.Join(tmp, e.Name())); err != nil {
					return err
				}
			}
		}
		if err := os.RemoveAll(final); err != nil {
			return err
		}
	}
	return durable.Rename(tmp, final)
}

// complete says whether a revision's folder is all there: every folder
// with its MANIFEST, which is written last.
func complete(folder string, p *config.Partners) bool {
	for _, x := range p.List {
		if _, err := os.Stat(filepath.Join(folder, x.ID, "MANIFEST")); err != nil {
			return false
		}
	}
	_, err := os.Stat(filepath.Join(folder, OperatorDir, "MANIFEST"))
	return err == nil
}

func tariffsSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
