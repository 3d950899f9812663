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
	"os"

	"roamsettle/pkg/config"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

// Chunk is how many records go to the spool in one group commit.
const Chunk = 1000

// checkpointEvery chunks the spool's journal is emptied into the session
// files, which bounds its size.
const checkpointEvery = 20

// Import reads the detail files into the spool, remembering how far it got.
// Malformed records are reported and set aside; the rest is imported and
// the run ends with an *stage.AttentionError.
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
	var failed []error
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		run.Add("files", 1)
		if err := im.file(ctx, name); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			failed = append(failed, err)
			run.Log.Error("import failed", "file", name, "err", err)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("import: %w", errors.Join(failed...))
	}
	if len(im.attention) > 0 {
		msg := fmt.Sprintf("%d record(s) or file(s) need attention; first: %v", len(im.attention), im.attention[0])
		return &stage.AttentionError{Msg: msg}
	}
	return nil
}

type importer struct {
	run       *stage.Run
	m         *Mapper
	state     *State
	store     *spool.Store
	attention []error
	chunks    int
}

// file imports one detail file from where the state says it got to.
func (im *importer) file(ctx context.Context, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()

	// The first complete record identifies the file's content, whatever
	// its name: a rotated or copied file resumes where the original was.
	p := NewParser(f, name, 0, 0)
	first, err := p.Next()
	if err == io.EOF || errors.Is(err, ErrIncomplete) {
		if err != io.EOF {
			im.run.Add("incomplete", 1)
		}
		return nil // nothing complete yet; nothing to remember
	}
	if err != nil {
		return err
	}
	fp, err := hashRange(f, 0, first.End)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
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
		p = NewParser(f, name, pos.Offset, pos.Line)
		first = nil
	}

	var batch []spool.Record
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
		// Only after the records are durable in the spool: a crash in
		// between re-imports at most this chunk (see docs/import.md).
		if pos.Offset == p.Offset() {
			return nil
		}
		pos.Offset, pos.Line = p.Offset(), p.Line()
		pos.Anchor, err = hashRange(f, anchorStart(pos.Offset), pos.Offset)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		im.state.Set(pos)
		return im.state.Save()
	}
	e := first
	for {
		if e == nil {
			e, err = p.Next()
			if err == io.EOF {
				return flush()
			}
			if errors.Is(err, ErrIncomplete) {
				im.run.Add("incomplete", 1)
				return flush()
			}
			if err != nil {
				return err
			}
		}
		im.run.Add("records", 1)
		pos.Records++
		rec, err := im.record(e, name)
		if err != nil {
			im.run.Add("malformed", 1)
			im.attend(err)
		} else {
			batch = append(batch, rec)
		}
		e = nil
		if len(batch) >= Chunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
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

func (im *importer) attend(err error) {
	im.run.Log.Warn("set aside", "err", err)
	im.attention = append(im.attention, err)
}

// hashRange is the SHA-256 of bytes [from, to) of f.
func hashRange(f *os.File, from, to int64) ([32]byte, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, from, to-from))
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
