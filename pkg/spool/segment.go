package spool

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"roamsettle/pkg/durable"
)

// JournalDir is the folder of the Store's write-ahead journal in the spool
// root, used in journal mode (Store.UseJournal); docs/spool.md "Journal".
const JournalDir = "journal"

// Journal is the folder of the spool's journal segments.
func (l Layout) Journal() string { return filepath.Join(l.Root, JournalDir) }

// Journal entry kinds: append a record line to open/<name>; close
// open/<name> (move it to ready/); checkpoint mark (every append of the
// segment is in its session file, durably).
const (
	entryAppend     = 'A'
	entryClose      = 'C'
	entryCheckpoint = 'K'
)

const segmentExt = ".log"

// appendEntry adds one journal line: kind, name, payload and the CRC-32C
// of what precedes its last tab, so a torn tail is recognised.
func appendEntry(buf []byte, kind byte, name string, payload []byte) []byte {
	start := len(buf)
	buf = append(buf, kind, '\t')
	buf = append(buf, name...)
	buf = append(buf, '\t')
	buf = append(buf, payload...)
	return fmt.Appendf(buf, "\t%08x\n", crc32.Checksum(buf[start:], crcTable))
}

type entry struct {
	kind    byte
	name    string
	line    []byte // a spool line without its LF, for entryAppend
	n       int    // its number in the segment, from 1, for messages
	refused bool   // not to be applied (see parseEntries, replayAppends)
}

// parseEntries reads journal entries up to the first incomplete or
// damaged one: the tail of a write cut short, never acknowledged. An
// entry whose name is not a session file of open/ (a path, "..") is
// returned refused, with why.
func parseEntries(data []byte) (out []entry, refused []string) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		data = data[i+1:]
		t := bytes.LastIndexByte(line, '\t')
		if t < 0 || len(line)-t-1 != 8 || fmt.Sprintf("%08x", crc32.Checksum(line[:t], crcTable)) != string(line[t+1:]) {
			break
		}
		kind, rest, ok1 := bytes.Cut(line[:t], []byte{'\t'})
		name, payload, ok2 := bytes.Cut(rest, []byte{'\t'})
		if !ok1 || !ok2 || len(kind) != 1 {
			break
		}
		e := entry{kind: kind[0], name: string(name), line: payload, n: len(out) + 1}
		if e.kind != entryCheckpoint && !validName(e.name) {
			e.refused = true
			refused = append(refused, fmt.Sprintf("entry %d names %q, not a session file of open/", e.n, e.name))
		}
		out = append(out, e)
	}
	return out, refused
}

// segment is one journal file, journal/<seq>.log.
type segment struct {
	f    *os.File
	seq  uint64
	size int64
}

// segmentPrealloc is how much of a segment is written with zeros before
// use: an fdatasync that does not grow the file needs no file-system
// journal commit, only the data and a cache flush, which halves the
// latency of a group. Entries beyond it still work, just slower.
const segmentPrealloc = 4 << 20

func createSegment(l Layout, seq uint64, prealloc bool) (*segment, error) {
	f, err := os.OpenFile(segmentPath(l, seq), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if prealloc {
		// Zeros end the entries for a reader: a zero byte is never an LF.
		zeros := make([]byte, 1<<20)
		for off := int64(0); off < segmentPrealloc && err == nil; off += int64(len(zeros)) {
			_, err = f.WriteAt(zeros, off)
		}
		if err == nil {
			err = f.Sync()
		}
	}
	// The new name must survive a crash, or its fsynced entries are lost.
	if err == nil {
		err = durable.SyncDir(l.Journal())
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("journal: new segment: %w", err)
	}
	return &segment{f: f, seq: seq}, nil
}

func segmentPath(l Layout, seq uint64) string {
	return filepath.Join(l.Journal(), fmt.Sprintf("%016d%s", seq, segmentExt))
}

// write appends entries and makes them durable.
func (g *segment) write(b []byte) error {
	if _, err := g.f.WriteAt(b, g.size); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	g.size += int64(len(b))
	if err := datasync(g.f); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// remove deletes a finished segment, durably: a stale segment replayed
// after a later one was applied could close a reused name wrongly.
func (g *segment) remove(l Layout) error {
	g.f.Close()
	if err := os.Remove(g.f.Name()); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return durable.SyncDir(l.Journal())
}

// segments lists the journal's segment numbers, oldest first.
func segments(l Layout) ([]uint64, error) {
	ents, err := os.ReadDir(l.Journal())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		n, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), segmentExt), 10, 64)
		if err != nil || !strings.HasSuffix(e.Name(), segmentExt) {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
