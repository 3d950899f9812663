package push

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/durable"
)

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
