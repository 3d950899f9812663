// Package detail reads FreeRADIUS detail files into the edge spool,
// remembering how far it got in each file so a re-run adds nothing.
// docs/import.md describes the accepted format and the state it keeps.
package detail

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

// Chunk is how many records go to the spool in one group commit.
const Chunk = 1000

// saveEvery records read, imported or not, the state is saved even when
// no chunk filled: a file of malformed records is not read again in full
// after a crash.
const saveEvery = 100 * Chunk

// checkpointEvery chunks the spool's journal is emptied into the session
// files, which bounds its size.
const checkpointEvery = 20

// Import reads the detail files into the spool, remembering how far it got.
// Malformed records and files that are not regular files are reported
// and set aside; the rest is imported and the run ends with an
// *stage.AttentionError. When ctx ends it stops at once, keeping what it
// read, with an error wrapping ctx.Err().
func Import(ctx context.Context, run *stage.Run, edge *config.Edge, files []string) error {
	m, err := NewMapper(edge)
	if err != nil {
		return err
	}
	st, err := LoadState(edge.Spool)
	if err != nil {
		return err
	}
	store, err := spool.OpenStore(spool.Layout{Root: edge.Spool})
	if err != nil {
		return err
	}
	// What the spool cannot use is set aside and reported; the import goes on.
	aside := store.Aside()
	spool.LogAside(run.Log, aside)
	run.Add("set_aside", int64(len(aside)))
	// Journal mode: each chunk is durable with one fsync of the journal
	// instead of one per session file touched.
	if err := store.UseJournal(); err != nil {
		return err
	}
	im := &importer{run: run, m: m, state: st, store: store}
	err = im.files(ctx, files)
	if cerr := store.Close(); cerr != nil {
		// A spool that cannot be closed fails the run (exit 1), whatever
		// else needs attention.
		if err != nil {
			return fmt.Errorf("spool: %w (and: %v)", cerr, err)
		}
		return fmt.Errorf("spool: %w", cerr)
	}
	if err == nil && len(aside) > 0 {
		return &stage.AttentionError{Msg: spool.AsideSummary(aside)}
	}
	return err
}

func (im *importer) files(ctx context.Context, files []string) error {
	run := im.run
	run.Add("files", 0)
	run.Add("records", 0)
	run.Add("imported", 0)
	run.Add("skipped_already_imported", 0)
	run.Add("malformed", 0)
	run.Add("incomplete", 0)
	run.Add("refused", 0)
	run.Add("unreadable", 0)
	defer im.logged.finish(run.Log) // also when a signal stops the run
	var failed []error
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped by a signal before %s: %w", name, err)
		}
		run.Add("files", 1)
		err := im.file(ctx, name)
		var nr *durable.NotRegularError
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return err
		case errors.As(err, &nr):
			run.Add("refused", 1)
			im.attend(err)
		case errors.Is(err, fs.ErrPermission):
			// Like roamload's unreadable batch file: a person fixes the
			// permissions, the next run imports it; the others go on.
			run.Add("unreadable", 1)
			im.attend(err)
		default:
			failed = append(failed, err)
			run.Log.Error("import failed", "file", name, "err", err)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("import: %w", errors.Join(failed...))
	}
	if im.attention > 0 {
		first := make([]string, len(im.first))
		for i, err := range im.first {
			first[i] = err.Error()
		}
		return &stage.AttentionError{Msg: fmt.Sprintf("%d record(s) or file(s) need attention; first: %s",
			im.attention, strings.Join(first, "; "))}
	}
	return nil
}

// firstKept is how many errors the final message quotes; the others are
// only counted, so a file of millions of bad records costs no memory.
const firstKept = 3

// importer is one run of Import.
type importer struct {
	run       *stage.Run
	m         *Mapper
	state     *State
	store     *spool.Store
	attention int64   // records and files set aside
	first     []error // the first firstKept of them
	logged    logQuota
	chunks    int
}

// ctxReader ends a read as soon as ctx ends, so a signal stops the import
// inside a long line as well as between records: the parser reads 64 KiB
// at a time, and each of those reads checks.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// file imports one detail file from where the state says it got to.
func (im *importer) file(ctx context.Context, name string) error {
	f, err := durable.OpenRegular(name, true, "refused (import reads regular detail files only)")
	if err != nil {
		return err
	}
	defer f.Close()
	in := ctxReader{ctx, f}

	// The first complete record identifies the file's content, whatever
	// its name: a rotated or copied file resumes where the original was.
	p := NewParser(in, name, 0, 0)
	first, err := p.Next()
	if err == io.EOF || errors.Is(err, ErrIncomplete) {
		if err != io.EOF {
			im.run.Add("incomplete", 1)
		}
		return nil // nothing complete yet; nothing to remember
	}
	// Nothing read yet needs saving when a signal ends these reads.
	early := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped by a signal in %s before its first record was read: %w", name, ctx.Err())
		}
		return err
	}
	if err != nil {
		return early(err)
	}
	fp, err := hashRange(ctx, f, 0, first.End)
	if err != nil {
		return early(fmt.Errorf("%s: %w", name, err))
	}
	pos := Position{Fingerprint: fp, File: name}
	if prev, ok := im.state.Get(fp); ok {
		if err := prev.verify(f); err != nil {
			im.attend(fmt.Errorf("%s: %w; not imported (move it aside, or import a corrected copy under a new first record)", name, err))
			return nil
		}
		pos = prev
		pos.File = name
		im.run.Add("skipped_already_imported", pos.Records)
		if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p = NewParser(in, name, pos.Offset, pos.Line)
		first = nil
	}

	var batch []spool.Record
	unsaved := 0 // records read since the state was last saved
	flush := func() error {
		if len(batch) > 0 {
			if err := im.store.Add(batch); err != nil {
				return fmt.Errorf("%s: spool: %w", name, err)
			}
			im.run.Add("imported", int64(len(batch)))
			batch = batch[:0]
			if im.chunks++; im.chunks%checkpointEvery == 0 {
				if err := im.store.Checkpoint(); err != nil {
					return fmt.Errorf("spool: %w", err)
				}
			}
		}
		unsaved = 0
		// Only after the records are durable in the spool: a crash in
		// between re-imports at most this chunk (see docs/import.md).
		if pos.Offset == p.Offset() {
			return nil
		}
		pos.Offset, pos.Line = p.Offset(), p.Line()
		pos.Anchor, err = hashRange(context.WithoutCancel(ctx), f, anchorStart(pos.Offset), pos.Offset)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		im.state.Set(pos)
		return im.state.Save()
	}
	e := first
	for {
		if e == nil {
			if ctx.Err() != nil {
				return im.stop(ctx, flush, name, &pos)
			}
			e, err = p.Next()
			if err == io.EOF {
				return flush()
			}
			if errors.Is(err, ErrIncomplete) {
				im.run.Add("incomplete", 1)
				return flush()
			}
			if err != nil {
				if ctx.Err() != nil {
					return im.stop(ctx, flush, name, &pos)
				}
				return err
			}
		}
		im.run.Add("records", 1)
		pos.Records++
		unsaved++
		rec, err := im.record(e, name)
		if err != nil {
			im.run.Add("malformed", 1)
			im.attendRecord(err)
		} else {
			batch = append(batch, rec)
		}
		e = nil
		// A file of malformed records saves its progress now and then too.
		if len(batch) >= Chunk || unsaved >= saveEvery {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// stop ends an import a signal interrupted: what was read is saved
// (flushed to the spool, the offset to the state), so the next run goes
// on from there.
func (im *importer) stop(ctx context.Context, flush func() error, name string, pos *Position) error {
	if err := flush(); err != nil {
		return fmt.Errorf("stopped by a signal in %s; saving how far it got failed: %v: %w", name, err, ctx.Err())
	}
	return fmt.Errorf("stopped by a signal in %s after line %d; the next run goes on from there: %w", name, pos.Line, ctx.Err())
}

// record maps an entry, placing any error in its file.
func (im *importer) record(e *Entry, name string) (spool.Record, error) {
	err := e.Err
	var rec spool.Record
	if err == nil {
		rec, err = im.m.Record(e, name)
	}
	var de *Error
	if errors.As(err, &de) && de.File == "" {
		de.File = name
	}
	return rec, err
}

// attend counts a file set aside, and logs it: files are few.
func (im *importer) attend(err error) {
	im.run.Log.Warn("set aside", "err", err)
	im.count(err)
}

// attendRecord counts a malformed record and logs it within the log quota.
func (im *importer) attendRecord(err error) {
	if held, ok := im.logged.allow(time.Now()); ok {
		attrs := []any{"err", err}
		if held > 0 {
			attrs = append(attrs, "not_logged_since_last", held)
		}
		im.run.Log.Warn("set aside", attrs...)
		if im.logged.n == logFirst {
			im.run.Log.Warn(fmt.Sprintf("further malformed records are logged at most once every %v; the summary counts them all", logEvery))
		}
	}
	im.count(err)
}

// count counts one thing set aside, keeping the first few for the message.
func (im *importer) count(err error) {
	im.attention++
	if len(im.first) < firstKept {
		im.first = append(im.first, err)
	}
}

// The log quota for malformed records: the first logFirst are logged,
// then at most one every logEvery with the number left out since the
// last, and at the end the number never logged.
const (
	logFirst = 10
	logEvery = 5 * time.Second
)

// logQuota is that quota for one run.
type logQuota struct {
	n     int       // lines let through
	last  time.Time // when the last one was
	held  int64     // lines held back since the last one let through
	total int64     // lines held back in all
}

// allow says whether to log now, and how many lines were held back since
// the last one logged.
func (q *logQuota) allow(now time.Time) (int64, bool) {
	if q.n >= logFirst && now.Sub(q.last) < logEvery {
		q.held++
		q.total++
		return 0, false
	}
	held := q.held
	q.n++
	q.last, q.held = now, 0
	return held, true
}

// finish logs how many lines the quota left out.
func (q *logQuota) finish(log *slog.Logger) {
	if q.total > 0 {
		log.Warn(fmt.Sprintf("%d more malformed records set aside, not logged (the summary counts them all)", q.total), "not_logged", q.total)
	}
}

// hashRange is the SHA-256 of bytes [from, to) of f; it stops when ctx
// ends (the first record of a file may be a huge malformed one).
func hashRange(ctx context.Context, f *os.File, from, to int64) ([32]byte, error) {
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(f, from, to-from)})
	if err != nil {
		return [32]byte{}, err
	}
	if n != to-from {
		return [32]byte{}, io.ErrUnexpectedEOF
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}
