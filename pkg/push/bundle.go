package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/spool"
)

// build bundles ready/ into a new committed batch in outgoing/ and returns
// its base name ("" when ready/ holds no spool file) and how many files it
// set aside. Entries that are not spool files are reported and left there.
// When the destination can take a stream, the tar is uploaded (to its
// temporary name) while it is written, and renamed into place only once
// the batch is committed here; if that upload fails, delivery sends the
// committed copy from outgoing/ as usual.
func (p *pusher) build(ctx context.Context) (string, int, error) {
	// Names only, read a chunk at a time: a DirEntry per file of a big
	// ready/ would cost several times the names themselves.
	var names []string
	var foreign []fs.DirEntry
	err := eachEntry(p.l.Ready(), func(e fs.DirEntry) {
		switch n := e.Name(); {
		case strings.HasPrefix(n, "."): // a writer's temporary name: not done yet
		case strings.HasSuffix(n, spool.FileExt) && e.Type().IsRegular():
			names = append(names, n)
		default:
			foreign = append(foreign, e)
		}
	})
	if err != nil {
		return "", 0, err
	}
	slices.Sort(names) // the batch's order, the same on every run
	slices.SortFunc(foreign, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	p.reportForeign(foreign)
	if len(names) == 0 {
		return "", 0, nil
	}
	sender := p.edge.ISP
	last, err := p.lastSeq(sender)
	if err != nil {
		return "", 0, err
	}
	seq := last + 1
	p.run.Log.Info("bundling spool/ready", "batch", batch.Name(sender, seq), "files", len(names))
	w, err := batch.Create(p.outgoing(), sender, seq, p.opt.Now())
	if err != nil {
		return "", 0, fmt.Errorf("start batch: %w", err)
	}
	defer w.Abort()
	up, err := p.startStream(ctx, batch.Name(sender, seq)+batch.DataExt)
	if err != nil {
		return "", 0, fmt.Errorf("push batch %s: %w (nothing moved in the spool)", batch.Name(sender, seq), err)
	}
	defer up.abort()
	if up != nil {
		w.Tee(up)
	}
	bar := p.run.Progress("bundle", "files", int64(len(names)))
	good, bad := 0, 0
	// names' own strings, sorted: prepare yields one result per name, in
	// order; a string cut from r.path would keep the whole path alive.
	members := names[:0:0]
	i := -1
	for r := range prepare(p.l.Ready(), names) {
		i++
		if err := ctx.Err(); err != nil {
			bar.Done()
			return "", bad, err
		}
		bar.Add(1)
		if r.err == nil {
			if _, err := w.AddPrepared(r.p); err != nil {
				bar.Done()
				return "", bad, fmt.Errorf("build batch %s: %w", batch.Name(sender, seq), err)
			}
			members = append(members, names[i])
			good++
			continue
		}
		if !unreadable(r.err, r.path) {
			bar.Done()
			return "", bad, fmt.Errorf("build batch %s: %w", batch.Name(sender, seq), r.err)
		}
		if err := p.setAside(filepath.Base(r.path), r.err); err != nil {
			bar.Done()
			return "", bad, err
		}
		bad++
	}
	bar.Done()
	p.run.Add("bad", int64(bad))
	if good == 0 {
		return "", bad, nil
	}
	m, err := w.Commit()
	if err != nil {
		return "", bad, fmt.Errorf("commit batch %s: %w", batch.Name(sender, seq), err)
	}
	if err := p.raiseState(sender, seq); err != nil {
		return "", bad, err
	}
	up.finish()
	name := batch.Name(sender, seq)
	p.built, p.builtMembers = name, slices.Clip(members)
	p.run.Log.Info("batch built", "batch", name, "files", m.Totals.Files, "records", m.Totals.Records, "bytes", m.DataSize)
	return name, bad, nil
}

// eachEntry calls fn with each entry of dir, reading it in chunks, in
// the order the file system gives.
func eachEntry(dir string, fn func(fs.DirEntry)) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(4096)
		for _, e := range ents {
			fn(e)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// foreignShown is how many foreign entries the warning names; its count
// covers them all, so a folder of thousands still makes one line.
const foreignShown = 10

// reportForeign logs, in one line, the entries of ready/ that are not
// spool files (symlinks, folders, other names), and counts them. They are
// left where they are: someone put them there, and a person decides.
func (p *pusher) reportForeign(ents []fs.DirEntry) {
	p.foreign = len(ents)
	if len(ents) == 0 {
		return
	}
	p.run.Add("foreign", int64(len(ents)))
	var shown []string
	for _, e := range ents[:min(len(ents), foreignShown)] {
		shown = append(shown, fmt.Sprintf("%s (%s)", e.Name(), kind(e.Type())))
	}
	args := []any{"folder", p.l.Ready(), "count", len(ents), "entries", strings.Join(shown, ", ")}
	if more := len(ents) - len(shown); more > 0 {
		args = append(args, "not_named", more)
	}
	p.run.Log.Warn("entries in spool/ready that are not spool files; not pushed, left there for a person", args...)
}

// kind names a directory entry's type for a person.
func kind(t fs.FileMode) string {
	switch {
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t.IsDir():
		return "folder"
	case t.IsRegular():
		return "file"
	}
	return "special file"
}

// unreadable says whether Add failed on the spool file itself (its content
// or reading it) rather than on writing the batch.
func unreadable(err error, path string) bool {
	var le *spool.LineError
	if errors.As(err, &le) {
		return true
	}
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Path == path && !errors.Is(err, fs.ErrNotExist)
}

// setAside moves an unreadable spool file to bad/ with a .reason file
// beside it (written first, so the file is never there without it).
func (p *pusher) setAside(name string, cause error) error {
	to, err := p.l.SetAside(filepath.Join(p.l.Ready(), name), "", cause.Error())
	if err != nil {
		return err
	}
	p.run.Log.Error("spool file cannot be read back; set aside, not pushed", "file", to, "reason", cause)
	return nil
}
