// Package push bundles the edge's ready sessions into a batch and delivers
// it to the central host. docs/push.md describes the behaviour; the order
// of steps is what makes a crash anywhere safe:
//
//  1. build the batch in spool/outgoing/ (manifest last), then record its
//     sequence number in spool/state/;
//  2. upload the tar, then the manifest, each to a temporary name, checked,
//     then renamed into place;
//  3. only then move its spool files from ready/ to sent/<batch>/, and the
//     batch out of outgoing/.
//
// A run that finds a batch in outgoing/ sends that one first, unchanged.
package push

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/lock"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/transport/local"
	"roamsettle/pkg/transport/sftp"
)

// Transport is a destination for batch files.
type Transport interface {
	// Put copies the local file to name at the destination: to a
	// temporary name the loader ignores, size-checked, then renamed into
	// place. progress, when not nil, receives bytes as they are sent.
	Put(ctx context.Context, localPath, name string, progress func(int64)) error
	// Stat describes name at the destination; an error that
	// errors.Is fs.ErrNotExist when it is not there.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	Close() error
}

var (
	_ Transport = (*local.Dir)(nil)
	_ Transport = (*sftp.Client)(nil)
)

// Folders and files push keeps in the spool, beside open/, ready/, sent/.
const (
	OutgoingDir = "outgoing"   // the batch being delivered
	BadDir      = spool.BadDir // spool files that cannot be read back, each with a .reason
	StateDir    = "state"      // <SENDER>.seq: the last sequence number used
	ReasonExt   = spool.ReasonExt
)

// Options tune a push; the zero value is what roamcollect uses.
type Options struct {
	Now      func() time.Time
	Attempts int           // tries per run for transient network faults; default 6
	Backoff  time.Duration // wait before the second try, doubled each time up to a minute; default 2s
	// Dial opens the destination; nil dials the one the configuration names.
	Dial func(ctx context.Context) (Transport, error)
	// Progress, when not nil, gets the bytes uploaded (tests use it to
	// interrupt an upload); a terminal also gets a bar.
	Progress func(n int64)
	// SettleHook, for tests, is called before each step of a settle
	// ("swap", "mkdir", "sync", "moveback", "manifest", "final", "tar");
	// an error stops the settle there, as a crash would.
	SettleHook func(step string) error
}

func (o *Options) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
}

// Push sends the pending batch, or a new one made of spool/ready/.
func Push(ctx context.Context, run *stage.Run, edge *config.Edge) error {
	return PushWith(ctx, run, edge, Options{})
}

// PushWith is Push with options. It returns *stage.AttentionError when it
// delivered everything it could but set unreadable spool files aside or
// found entries in ready/ that are not spool files.
func PushWith(ctx context.Context, run *stage.Run, edge *config.Edge, opt Options) error {
	opt.defaults()
	p := &pusher{run: run, edge: edge, opt: opt, l: spool.Layout{Root: edge.Spool}}
	if opt.Dial == nil {
		p.opt.Dial = func(ctx context.Context) (Transport, error) { return Dial(ctx, edge, run) }
	}
	for _, d := range []string{p.outgoing(), p.dir(StateDir), p.l.Ready(), p.l.Sent()} {
		if err := makeDir(d); err != nil {
			return err
		}
	}
	defer p.closeTransport()
	if err := p.finishSettling(); err != nil {
		return err
	}
	if err := p.sweep(ctx); err != nil {
		return err
	}
	pending, err := p.pending()
	if err != nil {
		return err
	}
	for _, name := range pending {
		if err := p.deliverAndSettle(ctx, name); err != nil {
			return err
		}
	}
	name, bad, err := p.build(ctx)
	if err != nil {
		return err
	}
	if name != "" {
		if err := p.deliverAndSettle(ctx, name); err != nil {
			return err
		}
	} else if len(pending) == 0 {
		run.Log.Info("nothing to push: no spool files in spool/ready")
	}
	var attention []string
	if bad > 0 {
		attention = append(attention, fmt.Sprintf("%d spool file(s) could not be read back and were set aside in %s (each with a %s file saying why)",
			bad, p.dir(BadDir), ReasonExt))
	}
	if len(p.aside) > 0 {
		attention = append(attention, spool.AsideSummary(p.aside))
	}
	if p.foreign > 0 {
		msg := "%d entries in %s are not spool files (symlinks, folders or other names; the log names them) and were left there for a person"
		if p.foreign == 1 {
			msg = "%d entry in %s is not a spool file (a symlink, a folder or another name; the log names it) and was left there for a person"
		}
		attention = append(attention, fmt.Sprintf(msg, p.foreign, p.l.Ready()))
	}
	if len(attention) > 0 {
		return &stage.AttentionError{Msg: strings.Join(attention, "; ") + "; everything else was pushed"}
	}
	return nil
}

type pusher struct {
	run  *stage.Run
	edge *config.Edge
	opt  Options
	l    spool.Layout
	tr   Transport
	// streamed is the tar uploaded while bundling, in place already.
	streamed string
	// foreign counts the entries of ready/ that are not spool files.
	foreign int
	// aside is what the sweep's Store could not use in open/ or the journal.
	aside []spool.Aside
	// built and builtMembers are the batch this run bundled and its member
	// names, so settling it need not parse back the manifest just written
	// (at 100,000 members that parse was most of a settle's CPU). Batches
	// from earlier runs are settled from their manifest.
	built        string
	builtMembers []string // sorted
}

func (p *pusher) dir(name string) string { return filepath.Join(p.l.Root, name) }
func (p *pusher) outgoing() string       { return p.dir(OutgoingDir) }

// makeDir makes a spool folder, durably.
func makeDir(dir string) error {
	if err := durable.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func syncDir(dir string) error { return durable.SyncDir(dir) }

// sweep closes stale open sessions first, so they travel in this batch.
// A running listener holds the open/ lock and sweeps by itself.
func (p *pusher) sweep(ctx context.Context) error {
	lk, err := lock.Acquire(ctx, p.l.Root, spool.OpenLock, "roamcollect push (sweep)", false, nil)
	var held *lock.HeldError
	if errors.As(err, &held) {
		p.run.Log.Info("not sweeping: another run holds the open/ lock and sweeps itself", "holder", held.Holder)
		return nil
	}
	if err != nil {
		return err
	}
	defer lk.Release()
	st, err := spool.OpenStore(p.l)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	// What cannot be used in open/ is set aside; the good sessions and
	// everything in ready/ are still pushed.
	p.aside = st.Aside()
	spool.LogAside(p.run.Log, p.aside)
	p.run.Add("set_aside", int64(len(p.aside)))
	n, err := st.Sweep(p.opt.Now(), p.edge.StaleAfter)
	p.run.Add("closed", int64(n))
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// Dial opens the destination the configuration names.
func Dial(ctx context.Context, edge *config.Edge, run *stage.Run) (Transport, error) {
	if edge.PushURL == nil {
		return local.Open(edge.Push)
	}
	return sftp.Dial(ctx, sftp.Config{
		URL:                   edge.PushURL,
		KnownHosts:            edge.KnownHosts,
		HostKey:               edge.HostKey,
		InsecureIgnoreHostKey: edge.InsecureIgnoreHostKey,
		Identity:              edge.Identity,
		AgentSocket:           os.Getenv("SSH_AUTH_SOCK"),
		Log:                   run.Log,
	})
}

func (p *pusher) closeTransport() {
	if p.tr != nil {
		p.tr.Close()
		p.tr = nil
	}
}

// Prune removes sent batches whose delivery finished more than olderThan
// ago. A batch folder counts as finished when its manifest is in it.
func Prune(run *stage.Run, edge *config.Edge, olderThan time.Duration) error {
	return PruneAt(run, edge, olderThan, time.Now())
}

// PruneAt is Prune as of now.
func PruneAt(run *stage.Run, edge *config.Edge, olderThan time.Duration, now time.Time) error {
	sent := spool.Layout{Root: edge.Spool}.Sent()
	ents, err := os.ReadDir(sent)
	if err != nil {
		return err
	}
	var pruned, files, kept int64
	for _, e := range ents {
		if _, _, ok := batch.ParseName(e.Name()); !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(sent, e.Name())
		st, err := os.Stat(filepath.Join(dir, e.Name()+batch.ManifestExt))
		if err != nil {
			kept++ // not a settled batch (settle moves the manifest in first): a person decides
			continue
		}
		if now.Sub(st.ModTime()) <= olderThan {
			kept++
			continue
		}
		members, _ := os.ReadDir(dir)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("prune %s: %w", dir, err)
		}
		pruned++
		files += int64(len(members)) - 1
		run.Log.Info("pruned sent batch", "batch", e.Name(), "sent", st.ModTime().UTC().Format(time.RFC3339))
	}
	run.Add("pruned", pruned)
	run.Add("files", files)
	run.Add("kept", kept)
	if pruned > 0 {
		return syncDir(sent)
	}
	return nil
}
