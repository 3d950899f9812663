package push

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/transport/sftp"
)

// makeDir makes a spool folder, durably.
func makeDir(dir string) error {
	if err := durable.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func syncDir(dir string) error { return durable.SyncDir(dir) }

// pending tidies outgoing/ and returns the base names of the committed
// batches in it (manifest present), lowest sequence first. Temporary files
// and a tar without its manifest are leftovers of a build that never
// finished: that batch was never sent, so its number may be used again.
func (p *pusher) pending() ([]string, error) {
	ents, err := os.ReadDir(p.outgoing())
	if err != nil {
		return nil, err
	}
	committed := map[string]bool{}
	for _, e := range ents {
		if base, ok := strings.CutSuffix(e.Name(), batch.ManifestExt); ok {
			if _, _, ok := batch.ParseName(base); ok {
				committed[base] = true
			}
		}
	}
	var out []string
	removed := false
	for _, e := range ents {
		name := e.Name()
		base := strings.TrimSuffix(strings.TrimSuffix(name, batch.ManifestExt), batch.DataExt)
		if committed[base] {
			continue
		}
		if err := os.Remove(filepath.Join(p.outgoing(), name)); err != nil {
			return nil, fmt.Errorf("tidy outgoing: %w", err)
		}
		removed = true
		p.run.Log.Info("removed an unfinished batch build from outgoing/", "file", name)
	}
	if removed {
		if err := syncDir(p.outgoing()); err != nil {
			return nil, err
		}
	}
	for base := range committed {
		out = append(out, base)
	}
	sort.Slice(out, func(i, j int) bool {
		si, qi, _ := batch.ParseName(out[i])
		sj, qj, _ := batch.ParseName(out[j])
		if si != sj {
			return si < sj
		}
		return qi < qj
	})
	for _, base := range out {
		sender, seq, _ := batch.ParseName(base)
		// A crash between commit and the state update leaves the state
		// behind; catch up so the number is never handed out again.
		if err := p.raiseState(sender, seq); err != nil {
			return nil, err
		}
		p.run.Log.Info("re-sending the batch a previous run did not finish", "batch", base)
	}
	return out, nil
}

func (p *pusher) stateFile(sender string) string {
	return filepath.Join(p.dir(StateDir), sender+".seq")
}

// lastSeq is the last sequence number used by sender: the larger of the
// state file and the batches in sent/ (a guard against a lost state file).
func (p *pusher) lastSeq(sender string) (uint64, error) {
	var last uint64
	b, err := os.ReadFile(p.stateFile(sender))
	switch {
	case err == nil:
		last, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: not a sequence number: %w (fix it by hand: it must hold the last batch number sent)", p.stateFile(sender), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	ents, err := os.ReadDir(p.l.Sent())
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		if s, q, ok := batch.ParseName(strings.TrimSuffix(e.Name(), settlingExt)); ok && s == sender && q > last {
			last = q
		}
	}
	return last, nil
}

func (p *pusher) raiseState(sender string, seq uint64) error {
	last, err := p.lastSeq(sender)
	if err != nil {
		return err
	}
	if seq <= last {
		return nil
	}
	return durable.WriteFile(p.stateFile(sender), []byte(strconv.FormatUint(seq, 10)+"\n"), 0o644)
}

// build bundles ready/ into a new committed batch in outgoing/ and returns
// its base name ("" when ready/ is empty) and how many files it set aside.
// When the destination can take a stream, the tar is uploaded (to its
// temporary name) while it is written, and renamed into place only once
// the batch is committed here; if that upload fails, delivery sends the
// committed copy from outgoing/ as usual.
func (p *pusher) build(ctx context.Context) (string, int, error) {
	ents, err := os.ReadDir(p.l.Ready())
	if err != nil {
		return "", 0, err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, spool.FileExt) && !strings.HasPrefix(n, ".") && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
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
	for r := range prepare(p.l.Ready(), names) {
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
	p.run.Log.Info("batch built", "batch", name, "files", m.Totals.Files, "records", m.Totals.Records, "bytes", m.DataSize)
	return name, bad, nil
}

type prepared struct {
	path string
	p    batch.Prepared
	err  error
}

// prepare reads and checks the named spool files with a few workers (the
// work is system calls, parsing and hashing: it overlaps well) and yields
// them in the order given. Stopping early leaves the workers to finish the
// window they hold and exit.
func prepare(dir string, names []string) iter.Seq[prepared] {
	return func(yield func(prepared) bool) {
		const window = 256
		type job struct {
			path string
			out  chan prepared
		}
		jobs := make(chan job)
		order := make(chan chan prepared, window)
		stop := make(chan struct{})
		defer close(stop)
		workers := runtime.GOMAXPROCS(0) + 2
		for i := 0; i < workers; i++ {
			go func() {
				buf := make([]byte, 64<<10)
				var pp batch.Preparer
				for j := range jobs {
					content, err := readSmall(j.path, buf)
					r := prepared{path: j.path, err: err}
					if err == nil {
						r.p, r.err = pp.Prepare(j.path, content)
					}
					j.out <- r
				}
			}()
		}
		go func() {
			defer close(jobs)
			defer close(order)
			for _, n := range names {
				out := make(chan prepared, 1)
				select {
				case order <- out:
				case <-stop:
					return
				}
				select {
				case jobs <- job{filepath.Join(dir, n), out}:
				case <-stop:
					return
				}
			}
		}()
		for out := range order {
			if !yield(<-out) {
				return
			}
		}
	}
}

// readSmall reads a whole file with plain system calls. os.ReadFile costs
// twice as many per file (it also readies the file for the poller), which
// shows at 100,000 files. A read shorter than the buffer is the end: these
// are regular files that nobody writes any more.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var out []byte
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		out = append(out, buf[:n]...)
		if n < len(buf) {
			if out == nil {
				out = []byte{}
			}
			return out, nil
		}
	}
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
	bad := p.dir(BadDir)
	if err := makeDir(bad); err != nil {
		return err
	}
	target := name
	for i := 1; ; i++ {
		if _, err := os.Lstat(filepath.Join(bad, target)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		target = fmt.Sprintf("%s+%d", name, i)
	}
	reason := fmt.Sprintf("%s\n", cause)
	if err := durable.WriteFile(filepath.Join(bad, target+ReasonExt), []byte(reason), 0o644); err != nil {
		return fmt.Errorf("set aside %s: %w", name, err)
	}
	if err := durable.Rename(filepath.Join(p.l.Ready(), name), filepath.Join(bad, target)); err != nil {
		return fmt.Errorf("set aside %s: %w", name, err)
	}
	p.run.Log.Error("spool file cannot be read back; set aside, not pushed", "file", filepath.Join(bad, target), "reason", cause)
	return nil
}

// settlingExt marks sent/<batch>.settling/: the ready/ folder a settle
// swapped out, while the files that are not in the batch go back.
const settlingExt = ".settling"

// settleHook, when set (tests only), is called before each step of a
// settle; an error stops the settle there, as a crash would.
var settleHook func(step string) error

func hook(step string) error {
	if settleHook != nil {
		return settleHook(step)
	}
	return nil
}

// settle moves a delivered batch's spool files to sent/<batch>/ with a
// constant number of renames however big the batch is:
//
//  1. under the ready lock, ready/ is renamed to sent/<batch>.settling and
//     an empty ready/ made (spool and sent/ folders fsynced);
//  2. every file there that is not a member of the batch (it arrived after
//     bundling) goes back to ready/, under the ready lock, with a "+N"
//     suffix when ready/ took its name meanwhile;
//  3. the manifest moves in, and sent/<batch>.settling becomes
//     sent/<batch>; the tar is removed from outgoing/.
//
// Each step is durable before the next, and a settle interrupted anywhere
// is finished by the next run (finishSettling) from what is on disk:
// sent/<batch>.settling exists only for a batch whose delivery was
// confirmed.
func (p *pusher) settle(base string) (missing int64, err error) {
	sentDir := filepath.Join(p.l.Sent(), base)
	settling := sentDir + settlingExt
	switch _, err := os.Lstat(settling); {
	case errors.Is(err, fs.ErrNotExist):
		if err := p.swapReady(settling); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	}
	mname := base + batch.ManifestExt
	mpath := filepath.Join(p.outgoing(), mname)
	if _, err := os.Lstat(mpath); errors.Is(err, fs.ErrNotExist) {
		mpath = filepath.Join(settling, mname) // moved in before a crash
	}
	members, err := readMembers(mpath)
	if err != nil {
		return 0, err
	}
	// A sent/<batch>/ folder already there was made by an earlier version,
	// which moved the files one by one: those in it are done, and a file
	// of the same name in ready/ is a newer session.
	var done map[string]bool
	legacy := false
	if names, err := readNames(sentDir); err == nil {
		legacy = true
		done = make(map[string]bool, len(names))
		for _, n := range names {
			done[n] = true
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	names, err := readNames(settling)
	if err != nil {
		return 0, err
	}
	var back []string
	present := 0
	for _, n := range names {
		switch {
		case n == mname:
		case members[n] && !done[n]:
			present++
		default:
			back = append(back, n)
		}
	}
	if len(back) > 0 {
		if err := p.moveBack(settling, back); err != nil {
			return 0, err
		}
	}
	if legacy || present < len(members) {
		have := make(map[string]bool, len(names))
		for _, n := range names {
			have[n] = true
		}
		for n := range members {
			if !have[n] && !done[n] {
				// Delivered in the batch, but gone from ready/ (removed by hand).
				missing++
				p.run.Log.Warn("spool file of a delivered batch is no longer in ready/", "batch", base, "file", n)
			}
		}
	}
	if mpath != filepath.Join(settling, mname) {
		if err := hook("manifest"); err != nil {
			return missing, err
		}
		if err := durable.Rename(mpath, filepath.Join(settling, mname)); err != nil {
			return missing, err
		}
	}
	if err := hook("final"); err != nil {
		return missing, err
	}
	if legacy {
		if err := mergeLegacy(settling, sentDir, mname); err != nil {
			return missing, err
		}
	} else if err := durable.Rename(settling, sentDir); err != nil {
		return missing, err
	}
	if err := hook("tar"); err != nil {
		return missing, err
	}
	if err := os.Remove(filepath.Join(p.outgoing(), base+batch.DataExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return missing, err
	}
	return missing, syncDir(p.outgoing())
}

// swapReady renames ready/ to settling and makes a new, empty ready/, under
// the ready lock: no move into ready/ is half done (the lock's holders
// fsync ready/ before they let it go), and none starts until the new
// ready/ is durable.
func (p *pusher) swapReady(settling string) (err error) {
	if err := hook("swap"); err != nil {
		return err
	}
	unlock, err := p.l.LockReady() // makes ready/ when a crash left none
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); err == nil {
			err = uerr
		}
	}()
	if err := os.Rename(p.l.Ready(), settling); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	if err := hook("mkdir"); err != nil {
		return err
	}
	if err := os.Mkdir(p.l.Ready(), 0o755); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	if err := hook("sync"); err != nil {
		return err
	}
	if err := syncDir(p.l.Sent()); err != nil {
		return err
	}
	return syncDir(p.l.Root)
}

// moveBack returns files that are not in the batch from settling to
// ready/, under the ready lock, both folders fsynced before it is let go.
func (p *pusher) moveBack(settling string, names []string) (err error) {
	unlock, err := p.l.LockReady()
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); err == nil {
			err = uerr
		}
	}()
	for i, n := range names {
		if i > 0 {
			if err := hook("moveback"); err != nil {
				return err
			}
		}
		target := n
		for k := 1; ; k++ {
			_, err := os.Lstat(filepath.Join(p.l.Ready(), target))
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return err
			}
			if b, ok := strings.CutSuffix(n, spool.FileExt); ok {
				target = fmt.Sprintf("%s+%d%s", b, k, spool.FileExt)
			} else {
				target = fmt.Sprintf("%s+%d", n, k)
			}
		}
		if err := os.Rename(filepath.Join(settling, n), filepath.Join(p.l.Ready(), target)); err != nil {
			return fmt.Errorf("settle: move %s back to ready/: %w", n, err)
		}
	}
	if err := syncDir(p.l.Ready()); err != nil {
		return err
	}
	return syncDir(settling)
}

// mergeLegacy finishes a batch whose sent/<batch>/ an earlier version
// started: the rest of the members, then the manifest, one by one.
func mergeLegacy(settling, sentDir, mname string) error {
	names, err := readNames(settling)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == mname {
			continue
		}
		if err := os.Rename(filepath.Join(settling, n), filepath.Join(sentDir, n)); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
	}
	if err := syncDir(sentDir); err != nil {
		return err
	}
	if err := durable.Rename(filepath.Join(settling, mname), filepath.Join(sentDir, mname)); err != nil {
		return err
	}
	if err := os.Remove(settling); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	return syncDir(filepath.Dir(settling))
}

// finishSettling completes, before anything else, the settles a crash
// interrupted (a sent/<batch>.settling/ folder: delivery was confirmed).
func (p *pusher) finishSettling() error {
	ents, err := os.ReadDir(p.l.Sent())
	if err != nil {
		return err
	}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), settlingExt)
		if _, _, valid := batch.ParseName(base); !ok || !valid || !e.IsDir() {
			continue
		}
		p.run.Log.Info("finishing the settle a previous run did not finish", "batch", base)
		missing, err := p.settle(base)
		if err != nil {
			return fmt.Errorf("batch %s: finishing its settle (sent/%s): %w", base, e.Name(), err)
		}
		if missing > 0 {
			p.run.Add("missing", missing)
		}
	}
	return nil
}

// readMembers returns the member names of a batch's manifest.
func readMembers(mpath string) (map[string]bool, error) {
	mf, err := os.Open(mpath)
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	mr, err := batch.ReadManifest(mf, mpath)
	if err != nil {
		return nil, err
	}
	members := make(map[string]bool, mr.Header.Totals.Files)
	for {
		mb, err := mr.NextMember()
		if err == io.EOF {
			return members, nil
		}
		if err != nil {
			return nil, err
		}
		members[mb.Name] = true
	}
}

// readNames lists a folder, unsorted.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// streamer is a Transport that can upload a file while it is written.
// Close on the writer puts the file in place; cancelling ctx first
// abandons it under its temporary name.
type streamer interface {
	Stream(ctx context.Context, name string, progress func(int64)) (io.WriteCloser, error)
}

var _ streamer = (*sftp.Client)(nil)

// upload is a tar being streamed while it is built. It never fails the
// build: after the first error it only counts bytes, and the batch is then
// delivered from outgoing/.
type upload struct {
	p    *pusher
	name string
	wc   io.WriteCloser
	// buf gathers the tar's many small writes (header, member, padding)
	// into large ones: each write to the stream is a hand-over between
	// goroutines.
	buf    *bufio.Writer
	cancel context.CancelFunc
	err    error
	closed bool
}

// startStream dials when needed and starts streaming name. It returns nil
// when the destination takes no stream or cannot be reached now (delivery
// retries), and an error only for a fault no retry mends (host key, login),
// so such a push fails before it bundles anything.
func (p *pusher) startStream(ctx context.Context, name string) (*upload, error) {
	if p.tr == nil {
		tr, err := p.opt.Dial(ctx)
		if err != nil {
			if !Transient(err) {
				return nil, err
			}
			p.run.Log.Info("no connection while bundling; delivering afterwards", "err", err)
			return nil, nil
		}
		p.tr = tr
	}
	st, ok := p.tr.(streamer)
	if !ok {
		return nil, nil
	}
	sctx, cancel := context.WithCancel(ctx)
	wc, err := st.Stream(sctx, name, p.progress(nil))
	if err != nil {
		cancel()
		p.run.Log.Warn("cannot start uploading while bundling; delivering afterwards", "err", err)
		return nil, nil
	}
	u := &upload{p: p, name: name, wc: wc, cancel: cancel}
	u.buf = bufio.NewWriterSize(writerFunc(u.send), 1<<20)
	return u, nil
}

func (u *upload) Write(b []byte) (int, error) {
	if u.err == nil {
		u.buf.Write(b) // errors come back through send
	}
	return len(b), nil
}

func (u *upload) send(b []byte) (int, error) {
	if u.err != nil {
		return len(b), nil
	}
	if _, err := u.wc.Write(b); err != nil {
		u.err = err
		u.p.run.Log.Warn("upload while bundling failed; the batch is delivered from outgoing/ after it is built", "file", u.name, "err", err)
	}
	return len(b), nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// finish puts the streamed tar in place: called only once the batch is
// committed here, so a final name never shows bytes the edge could lose.
func (u *upload) finish() {
	if u == nil {
		return
	}
	u.buf.Flush()
	if u.err != nil {
		return
	}
	u.closed = true
	if err := u.wc.Close(); err != nil {
		u.err = err
		u.p.run.Log.Warn("upload while bundling failed; delivering from outgoing/", "file", u.name, "err", err)
		u.p.closeTransport()
	} else {
		u.p.streamed = u.name
	}
	u.cancel()
}

// abort abandons an upload that was not finished.
func (u *upload) abort() {
	if u == nil || u.closed {
		return
	}
	u.closed = true
	u.cancel()
	u.wc.Close()
	if u.err != nil {
		u.p.closeTransport() // the connection is likely dead
	}
}
