package push

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/durable"
	"roamsettle/pkg/spool"
)

// settlingExt marks sent/<batch>.settling/: the ready/ folder a settle
// swapped out, while the files that are not in the batch go back.
const settlingExt = ".settling"

// hook calls Options.SettleHook before a step of a settle.
func (p *pusher) hook(step string) error {
	if p.opt.SettleHook != nil {
		return p.opt.SettleHook(step)
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
	members := p.builtMembers
	if base != p.built || members == nil {
		var err error
		if members, err = readMembers(mpath); err != nil {
			return 0, err
		}
	}
	// Both lists sorted, walked side by side: no map of a million names.
	names, err := readNames(settling)
	if err != nil {
		return 0, err
	}
	slices.Sort(names)
	var back []string
	i := 0
	for _, n := range names {
		for i < len(members) && members[i] < n {
			// Delivered in the batch, but gone from ready/ (removed by hand).
			missing++
			p.run.Log.Warn("spool file of a delivered batch is no longer in ready/", "batch", base, "file", members[i])
			i++
		}
		switch {
		case i < len(members) && members[i] == n:
			i++
		case n != mname:
			back = append(back, n)
		}
	}
	for ; i < len(members); i++ {
		missing++
		p.run.Log.Warn("spool file of a delivered batch is no longer in ready/", "batch", base, "file", members[i])
	}
	if len(back) > 0 {
		if err := p.moveBack(settling, back); err != nil {
			return 0, err
		}
	}
	if mpath != filepath.Join(settling, mname) {
		if err := p.hook("manifest"); err != nil {
			return missing, err
		}
		if err := durable.Rename(mpath, filepath.Join(settling, mname)); err != nil {
			return missing, err
		}
	}
	if err := p.hook("final"); err != nil {
		return missing, err
	}
	if err := durable.Rename(settling, sentDir); err != nil {
		return missing, err
	}
	if err := p.hook("tar"); err != nil {
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
	if err := p.hook("swap"); err != nil {
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
	if err := p.hook("mkdir"); err != nil {
		return err
	}
	if err := os.Mkdir(p.l.Ready(), 0o755); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	if err := p.hook("sync"); err != nil {
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
			if err := p.hook("moveback"); err != nil {
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

// readMembers returns the member names of a batch's manifest, sorted.
func readMembers(mpath string) ([]string, error) {
	mf, err := os.Open(mpath)
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	mr, err := batch.ReadManifest(mf, mpath)
	if err != nil {
		return nil, err
	}
	members := make([]string, 0, mr.Header.Totals.Files)
	for {
		mb, err := mr.NextMember()
		if err == io.EOF {
			slices.Sort(members)
			return slices.Compact(members), nil
		}
		if err != nil {
			return nil, err
		}
		members = append(members, mb.Name)
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
