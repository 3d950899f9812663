package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/store"
)

// Quarantined is one batch in quarantine/.
type Quarantined struct {
	Batch  string   `json:"batch"`  // <SENDER>-<SEQ>
	Slot   string   `json:"slot"`   // its name there: the batch name, or <batch>~N for a later one
	Files  []string `json:"files"`  // what of it is there
	Reason string   `json:"reason"` // the first line of its .reason file
}

// SenderStatus is one sender's line of roamload status.
type SenderStatus struct {
	store.SenderStatus
	Quarantined []Quarantined `json:"quarantined"`
	Waiting     []string      `json:"waiting"` // complete batches in inbound/, not handled yet
}

// StatusReport is what roamload status shows.
type StatusReport struct {
	Senders []SenderStatus `json:"senders"`
	Inbound []InboundFile  `json:"inbound"` // every file in inbound/, by name
}

// InboundFile is one file waiting in inbound/, whatever it is.
type InboundFile struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`  // one of the Kind* constants
	Since string `json:"since"` // its modification time, UTC
	Note  string `json:"note"`  // what it means, for people
}

// Kinds of files in inbound/.
const (
	KindBatch      = "batch"      // a complete batch's manifest: the next run takes it
	KindData       = "data"       // the tar of a complete batch
	KindIncomplete = "incomplete" // a tar whose manifest has not arrived
	KindUpload     = "upload"     // a temporary upload name (leading '.')
	KindForeign    = "foreign"    // not a batch's name (or sequence 0): never taken
)

// Status writes per-sender sequence status to w: the last sequence
// loaded, the gaps below it, quarantined and waiting batches.
func Status(ctx context.Context, s *config.Settlement, w io.Writer, asJSON bool) error {
	rep, err := status(ctx, s)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeText(w, rep)
}

func status(ctx context.Context, s *config.Settlement) (*StatusReport, error) {
	rep := &StatusReport{Senders: []SenderStatus{}}
	idx := map[string]int{}
	sender := func(name string) *SenderStatus {
		i, ok := idx[name]
		if !ok {
			i = len(rep.Senders)
			idx[name] = i
			rep.Senders = append(rep.Senders, SenderStatus{SenderStatus: store.SenderStatus{Sender: name, Gaps: []store.Range{}}})
		}
		return &rep.Senders[i]
	}
	db, err := store.OpenExisting(ctx, s.DB)
	switch {
	case store.IsNotExist(err):
	case err != nil:
		return nil, err
	default:
		defer db.Close()
		senders, err := db.Senders(ctx)
		if err != nil {
			return nil, err
		}
		for _, st := range senders {
			sender(st.Sender).SenderStatus = st
		}
	}
	q, err := quarantined(s.Quarantine)
	if err != nil {
		return nil, err
	}
	for _, qb := range q {
		name, _, _ := batch.ParseName(qb.Batch)
		st := sender(name)
		st.Quarantined = append(st.Quarantined, qb)
	}
	waiting, err := scanInbound(s.Inbound)
	if err != nil {
		return nil, err
	}
	for _, b := range waiting {
		st := sender(b.sender)
		st.Waiting = append(st.Waiting, b.base)
	}
	if rep.Inbound, err = inboundFiles(s.Inbound); err != nil {
		return nil, err
	}
	sort.Slice(rep.Senders, func(i, j int) bool { return rep.Senders[i].Sender < rep.Senders[j].Sender })
	for i := range rep.Senders {
		st := &rep.Senders[i]
		if st.Quarantined == nil {
			st.Quarantined = []Quarantined{}
		}
		if st.Waiting == nil {
			st.Waiting = []string{}
		}
	}
	return rep, nil
}

// inboundFiles describes every entry of inbound/, so that what the loader
// does not take (a tar still waiting for its manifest, an abandoned
// upload, a stray file) is seen too, with its age.
func inboundFiles(dir string) ([]InboundFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []InboundFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read inbound folder: %w", err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	out := []InboundFile{}
	for _, e := range ents {
		name := e.Name()
		f := InboundFile{Name: name}
		if info, err := e.Info(); err == nil {
			f.Since = info.ModTime().UTC().Format(time.RFC3339)
		}
		base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		_, _, named := batch.ParseName(base)
		switch {
		case strings.HasPrefix(name, "."):
			f.Kind, f.Note = KindUpload, "an upload in progress, or abandoned by an interrupted push (the next push overwrites it)"
		case !e.Type().IsRegular():
			f.Kind, f.Note = KindForeign, "not a regular file: never taken"
		case named && ext == batch.ManifestExt:
			f.Kind, f.Note = KindBatch, "complete: the next roamload run takes it"
			if !have[base+batch.DataExt] {
				f.Note = "its tar is missing: the next roamload run quarantines it"
			}
		case named && ext == batch.DataExt && have[base+batch.ManifestExt]:
			f.Kind, f.Note = KindData, "the data of a complete batch"
		case named && ext == batch.DataExt:
			f.Kind, f.Note = KindIncomplete, "a tar without its manifest: its upload has not finished (the manifest comes last), or the manifest was lost"
		default:
			f.Kind, f.Note = KindForeign, "not a batch name (<SENDER>-<SEQ>.tar/.manifest, sequence from 1): never taken"
		}
		out = append(out, f)
	}
	return out, nil
}

// quarantined lists quarantine/ by slot: every file named <batch>[~N].ext
// whose batch name parses.
func quarantined(dir string) ([]Quarantined, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read quarantine folder: %w", err)
	}
	slots := map[string]*Quarantined{}
	var order []string
	for _, e := range ents {
		name := e.Name()
		ext := filepath.Ext(name)
		slot := strings.TrimSuffix(name, ext)
		base, _, _ := strings.Cut(slot, "~")
		if _, _, ok := batch.ParseName(base); !ok || (ext != ReasonExt && ext != batch.DataExt && ext != batch.ManifestExt) {
			continue
		}
		q := slots[slot]
		if q == nil {
			q = &Quarantined{Batch: base, Slot: slot}
			slots[slot] = q
			order = append(order, slot)
		}
		q.Files = append(q.Files, name)
		if ext == ReasonExt {
			q.Reason = firstLine(filepath.Join(dir, name))
		}
	}
	sort.Strings(order)
	out := make([]Quarantined, 0, len(order))
	for _, s := range order {
		out = append(out, *slots[s])
	}
	return out, nil
}

func firstLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", filepath.Base(path), err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}

func writeText(w io.Writer, rep *StatusReport) error {
	if len(rep.Senders) == 0 && len(rep.Inbound) == 0 {
		_, err := fmt.Fprintln(w, "no batches loaded, quarantined or waiting")
		return err
	}
	if err := writeSenders(w, rep); err != nil {
		return err
	}
	if len(rep.Inbound) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INBOUND\tKIND\tSINCE\tNOTE")
	for _, f := range rep.Inbound {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Kind, f.Since, f.Note)
	}
	return tw.Flush()
}

func writeSenders(w io.Writer, rep *StatusReport) error {
	if len(rep.Senders) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SENDER\tLAST SEQUENCE\tBATCHES\tRECORDS\tLAST LOADED AT\tGAPS\tQUARANTINED\tWAITING")
	for _, s := range rep.Senders {
		last, at := "-", "-"
		if s.Batches > 0 {
			last, at = fmt.Sprint(s.LastSequence), s.LastLoadedAt
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%d\n", s.Sender, last, s.Batches, s.Records, at, gapText(s.Gaps), len(s.Quarantined), len(s.Waiting))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range rep.Senders {
		for _, q := range s.Quarantined {
			reason := q.Reason
			if reason == "" {
				reason = "(no .reason file)"
			}
			if _, err := fmt.Fprintf(w, "quarantined %s (%s): %s\n", q.Slot, strings.Join(q.Files, " "), reason); err != nil {
				return err
			}
		}
	}
	return nil
}

func gapText(gaps []store.Range) string {
	if len(gaps) == 0 {
		return "-"
	}
	parts := make([]string, len(gaps))
	for i, g := range gaps {
		if g.From == g.To {
			parts[i] = fmt.Sprint(g.From)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", g.From, g.To)
		}
	}
	return strings.Join(parts, ",")
}
