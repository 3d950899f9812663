// Package load is the roamload stage: verified batches into the raw store.
// docs/load.md describes what it does with every kind of batch.
package load

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// Options are roamload's switches.
type Options struct {
	DryRun bool
	// Crash, when set, is called at named points of the work (see the
	// crash* constants); the crash tests kill the process there.
	Crash func(point string)
}

// Points at which Options.Crash is called.
const (
	CrashBeforeCommit = "before-commit"      // every record inserted, not committed
	CrashAfterCommit  = "after-commit"       // committed, nothing moved
	CrashAfterDataMv  = "after-data-move"    // the tar moved, the manifest not yet
	CrashAfterReason  = "after-reason-write" // quarantine: .reason written, nothing moved
)

// Counts of the run's summary, in the order they are shown.
const (
	countBatches     = "batches"
	countLoaded      = "loaded"
	countCopies      = "copies"
	countQuarantined = "quarantined"
	countRecords     = "records"
	countProblems    = "problems" // records loaded with a value their row cannot hold
	countGaps        = "gaps"
	countSkipped     = "skipped" // batches whose manifest or tar cannot be read: left in inbound/
	countStuck       = "stuck"   // batches that could not be moved out of inbound/
)

// ReasonExt is the extension of the file that says why a batch is in
// quarantine/.
const ReasonExt = ".reason"

// fatal is an error of the run, not of the batch (the database, a
// cancelled run): the batch stays in inbound/ and the run fails.
type fatal struct{ err error }

func (f *fatal) Error() string { return f.err.Error() }
func (f *fatal) Unwrap() error { return f.err }

// unreadable is a manifest that cannot be read (permissions, an I/O
// error): nothing says the batch is damaged, so it is neither loaded nor
// quarantined but left in inbound/ for the next run, and reported.
type unreadable struct{ err error }

func (u *unreadable) Error() string { return u.err.Error() }
func (u *unreadable) Unwrap() error { return u.err }

// inboundBatch is a complete batch found in inbound/.
type inboundBatch struct {
	sender string
	seq    uint64
	base   string // <SENDER>-<SEQ>
}

type loader struct {
	ctx   context.Context
	run   *stage.Run
	s     *config.Settlement
	opts  Options
	db    *store.DB // nil in a dry run without a database
	would map[string]map[uint64]bool
	held  []string // batches quarantined (or that would be), for the exit message
	// skipped are batches left in inbound/ because their manifest cannot
	// be read; stuck are batches that could not be moved out of inbound/
	// (the file system refused). Both are reported, and the other
	// batches are loaded all the same.
	skipped, stuck []string
}

// Load loads every complete batch in the inbound folder, in sender and
// sequence order. A batch that fails its checks is quarantined and the run
// goes on; the run then returns an *stage.AttentionError (exit 3).
func Load(ctx context.Context, run *stage.Run, s *config.Settlement, opts Options) error {
	for _, c := range []string{countBatches, countLoaded, countCopies, countQuarantined, countRecords, countProblems, countGaps, countSkipped, countStuck} {
		run.Add(c, 0)
	}
	l := &loader{ctx: ctx, run: run, s: s, opts: opts, would: map[string]map[uint64]bool{}}
	if !opts.DryRun {
		for _, d := range []string{s.Inbound, s.Archive, s.Quarantine, filepath.Dir(s.DB)} {
			if err := durable.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create folder %s: %w", d, err)
			}
		}
		db, err := store.Open(ctx, s.DB)
		if err != nil {
			return err
		}
		defer db.Close()
		l.db = db
	} else {
		db, err := store.OpenExisting(ctx, s.DB)
		switch {
		case store.IsNotExist(err):
			run.Log.Info("dry run: no database yet, every batch is new", "db", s.DB)
		case err != nil:
			return err
		default:
			defer db.Close()
			l.db = db
		}
	}
	batches, err := scanInbound(s.Inbound)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before batch %s: %w", b.base, err)
		}
		run.Add(countBatches, 1)
		if err := l.batch(b); err != nil {
			var st *stuckError
			if !errors.As(err, &st) {
				return err
			}
			run.Add(countStuck, 1)
			l.stuck = append(l.stuck, b.base)
			run.Log.Error("batch could not be moved out of inbound/; going on with the others", "batch", b.base, "err", err)
		}
	}
	return l.outcome()
}

// outcome is the run's end: exit 1 when a batch is stuck in inbound/ (the
// file system needs fixing), exit 3 when batches were quarantined or
// skipped (a person must look), else done.
func (l *loader) outcome() error {
	var parts []string
	if len(l.held) > 0 {
		verb := "quarantined"
		if l.opts.DryRun {
			verb = "would be quarantined"
		}
		parts = append(parts, fmt.Sprintf("%d batch(es) %s, see %s: %s", len(l.held), verb, l.s.Quarantine, strings.Join(l.held, ", ")))
	}
	if len(l.skipped) > 0 {
		parts = append(parts, fmt.Sprintf("%d batch(es) left in %s because their manifest or tar cannot be read (the log says why: permissions, an I/O error, not a regular file; once fixed, the next run loads them): %s",
			len(l.skipped), l.s.Inbound, strings.Join(l.skipped, ", ")))
	}
	msg := strings.Join(parts, "; ")
	if len(l.stuck) > 0 {
		return fmt.Errorf("%d batch(es) could not be moved out of %s (see the log; a batch that was loaded is not loaded again, the next run finishes its move): %s",
			len(l.stuck), l.s.Inbound, strings.Join(l.stuck, ", ")+prefixed("; also: ", msg))
	}
	if msg != "" {
		return &stage.AttentionError{Msg: msg}
	}
	return nil
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// stuckError is a batch whose files could not be moved to archive/ or
// quarantine/: the batch's trouble for this run, not every batch's.
type stuckError struct{ err error }

func (e *stuckError) Error() string { return e.err.Error() }
func (e *stuckError) Unwrap() error { return e.err }

// scanInbound lists the complete batches: a manifest whose name parses.
// Temporary upload names start with '.' and never parse; a tar without its
// manifest is still arriving and is left alone.
func scanInbound(dir string) ([]inboundBatch, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read inbound folder: %w", err)
	}
	var out []inboundBatch
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), batch.ManifestExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		sender, seq, ok := batch.ParseName(base)
		if !ok {
			continue
		}
		out = append(out, inboundBatch{sender, seq, base})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].sender != out[j].sender {
			return out[i].sender < out[j].sender
		}
		return out[i].seq < out[j].seq
	})
	return out, nil
}

func (l *loader) crash(point string) {
	if l.opts.Crash != nil {
		l.opts.Crash(point)
	}
}

func (l *loader) inbound(b inboundBatch, ext string) string {
	return filepath.Join(l.s.Inbound, b.base+ext)
}

// batch handles one complete batch. Only a fatal error is returned; a bad
// batch is quarantined and counted.
func (l *loader) batch(b inboundBatch) error {
	log := l.run.Log.With("batch", b.base)
	if done, err := l.resumeQuarantine(b); err != nil || done {
		return err
	}
	mpath := l.inbound(b, batch.ManifestExt)
	mi, err := readManifest(mpath)
	if err != nil {
		var ur *unreadable
		if errors.As(err, &ur) {
			return l.skip(b, "manifest", ur.err, log)
		}
		return l.quarantine(b, err.Error())
	}
	msum, hdr := mi.sha256, mi.header
	var prior *store.Batch
	if l.db != nil {
		if prior, err = l.db.FindBatch(l.ctx, b.sender, b.seq); err != nil {
			return err
		}
	}
	if prior != nil {
		if prior.ManifestSHA256 != msum {
			return l.quarantine(b, fmt.Sprintf("%s: sequence %d of %s was already loaded with different content "+
				"(batch_id %d, loaded %s, manifest SHA-256 %s, data SHA-256 %s); this manifest has SHA-256 %s and data SHA-256 %s: "+
				"a sequence number must never be reused for different content",
				b.base+batch.ManifestExt, b.seq, b.sender, prior.ID, prior.LoadedAt, prior.ManifestSHA256, prior.DataSHA256, msum, hdr.DataSHA256))
		}
		return l.copy(b, prior, hdr, log)
	}
	l.gapCheck(b, log)
	if l.opts.DryRun {
		return l.dryRun(b, mpath, log)
	}
	return l.load(b, mpath, mi, log)
}

// skip leaves a batch whose manifest or tar cannot be read in inbound/,
// reported: its permissions or an I/O error say nothing about its
// content, and once they are fixed the next run loads it.
func (l *loader) skip(b inboundBatch, what string, err error, log *slog.Logger) error {
	l.run.Add(countSkipped, 1)
	l.skipped = append(l.skipped, b.base)
	log.Error(what+" cannot be read; batch left in inbound/ and skipped", "err", err)
	return nil
}

// quarantineOrSkip quarantines a batch for what batch.Read found wrong,
// or skips it when its tar could not be read at all.
func (l *loader) quarantineOrSkip(b inboundBatch, err error, log *slog.Logger) error {
	var ue *batch.UnreadableError
	if errors.As(err, &ue) {
		return l.skip(b, "tar", ue, log)
	}
	return l.quarantine(b, err.Error())
}

// manifestInfo is what is known of a manifest before its batch is read.
type manifestInfo struct {
	sha256 string
	header *batch.Manifest
	fi     os.FileInfo
}

// readManifest returns the SHA-256 of the manifest file and its header.
// A manifest that cannot be parsed is the batch's error, one that cannot
// be read is *unreadable.
func readManifest(path string) (*manifestInfo, error) {
	f, err := batch.OpenRegular(path)
	if err != nil {
		return nil, &unreadable{fmt.Errorf("read %s: %w", path, err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &unreadable{fmt.Errorf("read %s: %w", path, err)}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, &unreadable{fmt.Errorf("read %s: %w", path, err)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, &unreadable{fmt.Errorf("read %s: %w", path, err)}
	}
	mr, err := batch.ReadManifest(bufio.NewReader(f), filepath.Base(path))
	if err != nil {
		return nil, err
	}
	return &manifestInfo{hex.EncodeToString(h.Sum(nil)), &mr.Header, fi}, nil
}

// gapCheck warns when the sequence before b was never loaded.
func (l *loader) gapCheck(b inboundBatch, log *slog.Logger) {
	if b.seq == 1 || l.would[b.sender][b.seq-1] {
		return
	}
	var prev uint64
	if l.db != nil {
		var err error
		if prev, err = l.db.PrevSequence(l.ctx, b.sender, b.seq); err != nil {
			log.Warn("cannot check for a sequence gap", "err", err)
			return
		}
	}
	for s := range l.would[b.sender] {
		if s < b.seq && s > prev {
			prev = s
		}
	}
	if prev == b.seq-1 {
		return
	}
	l.run.Add(countGaps, 1)
	log.Warn(fmt.Sprintf("sequence gap: %s %d to %d never arrived (or were quarantined) before %d", b.sender, prev+1, b.seq-1, b.seq),
		"sender", b.sender, "missing_from", prev+1, "missing_to", b.seq-1)
}

func (l *loader) noteLoaded(b inboundBatch) {
	if l.would[b.sender] == nil {
		l.would[b.sender] = map[uint64]bool{}
	}
	l.would[b.sender][b.seq] = true
}

// batchError tells the batch's faults from the run's in what batch.Read
// returns: the run's are wrapped in *fatal by the visit function.
func batchError(ctx context.Context, err error) (fatalErr error) {
	var fe *fatal
	if errors.As(err, &fe) {
		return fe.err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

func (l *loader) dryRun(b inboundBatch, mpath string, log *slog.Logger) error {
	var row store.Row
	zones := store.Zones{}
	var n int64
	_, err := batch.Read(mpath, func(mb *batch.Member, line int, rec *spool.Record) error {
		if n++; n%4096 == 0 && l.ctx.Err() != nil {
			return &fatal{l.ctx.Err()}
		}
		if row.Fill(rec, zones); row.Problem != "" {
			l.run.Add(countProblems, 1)
			log.Warn("dry run: record would be loaded with a problem on its row", "member", mb.Name, "line", line, "problem", row.Problem)
		}
		return nil
	})
	if err != nil {
		if ferr := batchError(l.ctx, err); ferr != nil {
			return ferr
		}
		return l.quarantineOrSkip(b, err, log)
	}
	l.noteLoaded(b)
	l.run.Add(countLoaded, 1)
	l.run.Add(countRecords, n)
	log.Info("dry run: batch is whole and would be loaded", "records", n)
	return nil
}

func (l *loader) load(b inboundBatch, mpath string, mi *manifestInfo, log *slog.Logger) error {
	start := time.Now()
	msum, hdr, mfi := mi.sha256, mi.header, mi.fi
	tx, err := l.db.BeginBatch(l.ctx, store.BatchInfo{Manifest: hdr, ManifestFile: b.base + batch.ManifestExt, ManifestSHA256: msum})
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit; on a panic it frees the write lock

	var n int64
	_, err = batch.Read(mpath, func(mb *batch.Member, line int, rec *spool.Record) error {
		if n++; n%4096 == 0 && l.ctx.Err() != nil {
			return &fatal{l.ctx.Err()}
		}
		if err := tx.AddRecord(mb, line, rec); err != nil {
			return &fatal{fmt.Errorf("batch %s member %s line %d: %w", b.base, mb.Name, line, err)}
		}
		return nil
	})
	if err == nil {
		err = l.addEmptyMembers(tx, mpath, hdr)
	}
	if err == nil {
		err = sameFile(mpath, mfi)
	}
	if err != nil {
		tx.Rollback()
		if ferr := batchError(l.ctx, err); ferr != nil {
			return ferr
		}
		return l.quarantineOrSkip(b, err, log)
	}
	l.crash(CrashBeforeCommit)
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("batch %s: %w", b.base, err)
	}
	l.crash(CrashAfterCommit)
	l.noteLoaded(b)
	l.run.Add(countLoaded, 1)
	l.run.Add(countRecords, tx.Records())
	if n, first := tx.Problems(); n > 0 {
		l.run.Add(countProblems, n)
		for _, p := range first {
			log.Warn("record loaded with a problem recorded on its row; roamclean rejects it (BAD_COUNTER)",
				"entry_id", p.EntryID, "member_id", p.Member, "line", p.Line, "problem", p.Text)
		}
		if n > int64(len(first)) {
			log.Warn(fmt.Sprintf("%d more records of the batch have a problem on their row (SELECT entry_id, problem FROM raw WHERE problem IS NOT NULL)", n-int64(len(first))))
		}
	}
	slot, err := l.moveAside(l.s.Archive, b)
	if err != nil {
		return &stuckError{fmt.Errorf("batch %s is loaded (batch_id %d) but could not be moved to %s: %w; the next run moves it", b.base, tx.BatchID(), l.s.Archive, err)}
	}
	elapsed := time.Since(start)
	perSec := int64(0)
	if ms := elapsed.Milliseconds(); ms > 0 {
		perSec = tx.Records() * 1000 / ms
	}
	log.Info("batch loaded", "batch_id", tx.BatchID(), "records", tx.Records(), "archived_as", slot,
		"seconds", fmt.Sprintf("%d.%03d", ms(elapsed)/1000, ms(elapsed)%1000), "records_per_second", perSec)
	return nil
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// addEmptyMembers records the members that hold no records (AddRecord
// recorded the others), reading the manifest again only when there are any.
func (l *loader) addEmptyMembers(tx *store.BatchTx, mpath string, hdr *batch.Manifest) error {
	if tx.MembersSeen() == hdr.Totals.Files {
		return nil
	}
	f, err := batch.OpenRegular(mpath)
	if err != nil {
		return &fatal{fmt.Errorf("reopen %s: %w", mpath, err)}
	}
	defer f.Close()
	mr, err := batch.ReadManifest(f, filepath.Base(mpath))
	if err != nil {
		return &fatal{fmt.Errorf("reread %s: %w", mpath, err)}
	}
	for {
		mb, err := mr.NextMember()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &fatal{fmt.Errorf("reread %s: %w", mpath, err)}
		}
		if mb.Records == 0 {
			if err := tx.AddMember(mb); err != nil {
				return &fatal{fmt.Errorf("%s: %w", mpath, err)}
			}
		}
	}
}

// sameFile says whether the file at path is still the one described by
// before: a manifest replaced while its batch was read must not be
// recorded with the checksum of the one that was verified.
func sameFile(path string, before os.FileInfo) error {
	now, err := os.Stat(path)
	if err != nil {
		return &fatal{fmt.Errorf("%s: %w", path, err)}
	}
	if !os.SameFile(before, now) || before.Size() != now.Size() || !before.ModTime().Equal(now.ModTime()) {
		return &fatal{fmt.Errorf("%s was replaced while its batch was loaded: nothing loaded, run again", path)}
	}
	return nil
}

// copy handles a batch whose sequence is loaded with the same manifest: a
// re-delivery, or a batch whose move to archive/ a crash interrupted.
// Either way nothing is loaded; its data is checked against the manifest
// so a damaged "copy" is not mistaken for a harmless one.
func (l *loader) copy(b inboundBatch, prior *store.Batch, hdr *batch.Manifest, log *slog.Logger) error {
	tpath := l.inbound(b, batch.DataExt)
	if _, err := os.Stat(tpath); err == nil {
		size, sum, err := hashFile(tpath)
		if err != nil {
			return l.skip(b, "tar", err, log)
		}
		if size != hdr.DataSize || sum != hdr.DataSHA256 {
			return l.quarantine(b, fmt.Sprintf("%s: copy of batch_id %d (loaded %s) with the same manifest but different data: "+
				"%d bytes SHA-256 %s, manifest says %d bytes SHA-256 %s", b.base+batch.DataExt, prior.ID, prior.LoadedAt, size, sum, hdr.DataSize, hdr.DataSHA256))
		}
	}
	l.run.Add(countCopies, 1)
	if l.opts.DryRun {
		log.Info("dry run: copy of a batch already loaded, would be moved to the archive", "batch_id", prior.ID, "loaded_at", prior.LoadedAt)
		return nil
	}
	slot, err := l.moveAside(l.s.Archive, b)
	if err != nil {
		return &stuckError{fmt.Errorf("batch %s (loaded as batch_id %d): move to %s: %w", b.base, prior.ID, l.s.Archive, err)}
	}
	if slot == b.base {
		log.Info("batch was loaded by an interrupted run; moved to the archive now", "batch_id", prior.ID, "loaded_at", prior.LoadedAt)
	} else {
		log.Warn("copy of a batch already loaded: not loaded again, kept in the archive", "batch_id", prior.ID, "loaded_at", prior.LoadedAt, "archived_as", slot)
	}
	return nil
}

func hashFile(path string) (int64, string, error) {
	f, err := batch.OpenRegular(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// slotName is the n-th name a batch can take in archive/ or quarantine/:
// its own for the first, then <base>~2, <base>~3, ... so nothing there is
// ever overwritten.
func slotName(base string, n int) string {
	if n == 1 {
		return base
	}
	return fmt.Sprintf("%s~%d", base, n)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// moveAside moves b's tar, then its manifest, into dir under the first free
// slot. The manifest goes last, as on upload: while it is in inbound/ the
// batch is still there to be handled, so a crash between the two moves is
// finished by the next run (the tar already waits in that slot). Across
// file systems a move is a copy then a removal (durable.Move); a crash
// between the two leaves the same file in both places, which the next run
// recognises by its content and finishes.
func (l *loader) moveAside(dir string, b inboundBatch) (string, error) {
	tpath, mpath := l.inbound(b, batch.DataExt), l.inbound(b, batch.ManifestExt)
	tarHere := exists(tpath)
	for n := 1; ; n++ {
		slot := slotName(b.base, n)
		dst := filepath.Join(dir, slot)
		if exists(dst + batch.ManifestExt) {
			if !tarHere && sameFileContent(mpath, dst+batch.ManifestExt) {
				return slot, durable.Remove(mpath) // its copy was made; the removal was not
			}
			continue
		}
		if tarHere {
			if err := moveOrFinish(tpath, dst+batch.DataExt); errors.Is(err, errSlotTaken) {
				continue
			} else if err != nil {
				return "", err
			}
			l.crash(CrashAfterDataMv)
		}
		return slot, durable.Move(mpath, dst+batch.ManifestExt)
	}
}

// errSlotTaken is a target name that holds another file.
var errSlotTaken = errors.New("target name taken by another file")

// moveOrFinish moves src to dst; when dst already holds src's content (an
// interrupted move across file systems) it only removes src.
func moveOrFinish(src, dst string) error {
	if !exists(dst) {
		return durable.Move(src, dst)
	}
	if sameFileContent(src, dst) {
		return durable.Remove(src)
	}
	return errSlotTaken
}

func sameFileContent(a, b string) bool {
	same, err := durable.SameContent(a, b)
	return err == nil && same
}

// quarantine sets b aside with a .reason file, written first: a crash
// before the files are moved leaves a reason without its manifest, which
// the next run recognises (resumeQuarantine) and finishes.
func (l *loader) quarantine(b inboundBatch, reason string) error {
	l.run.Add(countQuarantined, 1)
	l.held = append(l.held, b.base)
	if l.opts.DryRun {
		l.run.Log.Error("dry run: batch would be quarantined", "batch", b.base, "reason", reason)
		return nil
	}
	var slot string
	for n := 1; ; n++ {
		slot = slotName(b.base, n)
		p := filepath.Join(l.s.Quarantine, slot)
		if !exists(p+ReasonExt) && !exists(p+batch.ManifestExt) && !exists(p+batch.DataExt) {
			break
		}
	}
	text := fmt.Sprintf("%s: %s\nquarantined %s by roamload; nothing of this batch was loaded.\n"+
		"Files: %s%s and %s%s (originally %s%s and %s%s in %s).\n",
		b.base, reason, store.FormatTime(time.Now()), slot, batch.DataExt, slot, batch.ManifestExt,
		b.base, batch.DataExt, b.base, batch.ManifestExt, l.s.Inbound)
	rpath := filepath.Join(l.s.Quarantine, slot+ReasonExt)
	if err := durable.WriteFile(rpath, []byte(text), 0o644); err != nil {
		return &stuckError{fmt.Errorf("batch %s: write %s: %w", b.base, rpath, err)}
	}
	l.crash(CrashAfterReason)
	if err := l.finishQuarantine(b, slot); err != nil {
		return err
	}
	l.run.Log.Error("batch quarantined", "batch", b.base, "reason", reason, "reason_file", rpath)
	return nil
}

// finishQuarantine moves b's tar, then its manifest, to its slot in
// quarantine/. The slot was free when its .reason was written, so a file
// already there is the copy of an interrupted move across file systems.
func (l *loader) finishQuarantine(b inboundBatch, slot string) error {
	dst := filepath.Join(l.s.Quarantine, slot)
	if tpath := l.inbound(b, batch.DataExt); exists(tpath) {
		if err := moveOrFinish(tpath, dst+batch.DataExt); err != nil {
			return &stuckError{fmt.Errorf("batch %s: move %s to quarantine: %w", b.base, tpath, err)}
		}
		l.crash(CrashAfterDataMv)
	}
	if err := durable.Move(l.inbound(b, batch.ManifestExt), dst+batch.ManifestExt); err != nil {
		return &stuckError{fmt.Errorf("batch %s: move to quarantine: %w", b.base, err)}
	}
	return nil
}

// resumeQuarantine finishes a quarantine a crash interrupted: a .reason in
// quarantine/ whose manifest is not there yet, or is there already with
// the very content of the one still in inbound/ while the tar is gone from
// inbound/ (a move across file systems stopped between the manifest's copy
// and its removal; the tar moves first). A batch delivered again, tar and
// all, is a new arrival, not the end of an old move.
func (l *loader) resumeQuarantine(b inboundBatch) (bool, error) {
	tarHere := exists(l.inbound(b, batch.DataExt))
	for n := 1; ; n++ {
		slot := slotName(b.base, n)
		p := filepath.Join(l.s.Quarantine, slot)
		hasReason, hasManifest := exists(p+ReasonExt), exists(p+batch.ManifestExt)
		if !hasReason && !hasManifest && !exists(p+batch.DataExt) {
			return false, nil
		}
		if !hasReason || (hasManifest && (tarHere || !sameFileContent(l.inbound(b, batch.ManifestExt), p+batch.ManifestExt))) {
			continue
		}
		l.run.Add(countQuarantined, 1)
		l.held = append(l.held, b.base)
		if l.opts.DryRun {
			l.run.Log.Error("dry run: an interrupted quarantine would be finished", "batch", b.base, "reason_file", p+ReasonExt)
			return true, nil
		}
		if hasManifest {
			if err := durable.Remove(l.inbound(b, batch.ManifestExt)); err != nil {
				return true, &stuckError{fmt.Errorf("batch %s: finish its move to quarantine: %w", b.base, err)}
			}
		} else if err := l.finishQuarantine(b, slot); err != nil {
			return true, err
		}
		l.run.Log.Error("batch quarantined (finishing an interrupted run)", "batch", b.base, "reason_file", p+ReasonExt)
		return true, nil
	}
}
