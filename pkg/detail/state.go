package detail

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"roamsettle/pkg/durable"
)

// StateHeader is the first line of the import state file.
const StateHeader = "#roamimport 1"

// StatePath is where the import state lives, inside the spool folder.
func StatePath(spoolDir string) string { return filepath.Join(spoolDir, "import", "state") }

// anchorLen is how many bytes before the saved offset are checked on
// resume: a file changed in place (not only appended to) is caught.
const anchorLen = 4096

func anchorStart(off int64) int64 { return max(0, off-anchorLen) }

// Position is how far the import got in one file content.
type Position struct {
	Fingerprint [32]byte // SHA-256 of the bytes up to the end of the first record
	Offset      int64    // bytes consumed: the end of the last complete record taken
	Line        int      // lines consumed
	Records     int64    // records consumed (imported or set aside)
	Anchor      [32]byte // SHA-256 of the anchorLen bytes before Offset
	File        string   // the last name it was imported under (for people)
}

// verify checks that f still has the content seen up to Offset.
func (p Position) verify(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < p.Offset {
		return fmt.Errorf("shorter (%d bytes) than when it was imported as %s (%d bytes): truncated or rewritten", st.Size(), p.File, p.Offset)
	}
	a, err := hashRange(context.Background(), f, anchorStart(p.Offset), p.Offset)
	if err != nil {
		return err
	}
	if a != p.Anchor {
		return fmt.Errorf("content before byte %d changed since it was imported as %s: rewritten in place", p.Offset, p.File)
	}
	return nil
}

// State is every file content the import has seen, by fingerprint.
type State struct {
	path string
	pos  map[[32]byte]Position
}

// LoadState reads the state of a spool; a missing file is an empty state.
func LoadState(spoolDir string) (*State, error) {
	s := &State{path: StatePath(spoolDir), pos: map[[32]byte]Position{}}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			if sc.Text() != StateHeader {
				return nil, fmt.Errorf("%s:1: not an import state file: first line must be %q", s.path, StateHeader)
			}
			continue
		}
		p, err := parsePosition(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", s.path, line, err)
		}
		s.pos[p.Fingerprint] = p
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%s: empty: not an import state file", s.path)
	}
	return s, nil
}

// Get returns the position of a file content.
func (s *State) Get(fp [32]byte) (Position, bool) {
	p, ok := s.pos[fp]
	return p, ok
}

// Set records a position; a shorter one never replaces a longer one.
func (s *State) Set(p Position) {
	if old, ok := s.pos[p.Fingerprint]; ok && old.Offset > p.Offset {
		return
	}
	s.pos[p.Fingerprint] = p
}

// Save writes the state durably (temporary file, fsync, rename).
func (s *State) Save() error {
	if err := durable.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	ps := make([]Position, 0, len(s.pos))
	for _, p := range s.pos {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return bytes.Compare(ps[i].Fingerprint[:], ps[j].Fingerprint[:]) < 0 })
	var b bytes.Buffer
	b.WriteString(StateHeader + "\n")
	for _, p := range ps {
		fmt.Fprintf(&b, "%x %d %d %d %x %s\n", p.Fingerprint, p.Offset, p.Line, p.Records, p.Anchor, strconv.Quote(p.File))
	}
	return durable.WriteFile(s.path, b.Bytes(), 0o644)
}

// parsePosition reads "fingerprint offset line records anchor "file"".
func parsePosition(l string) (Position, error) {
	var p Position
	f := strings.SplitN(l, " ", 6)
	if len(f) != 6 {
		return p, errors.New("want: fingerprint offset line records anchor \"file\"")
	}
	if err := hex32(f[0], &p.Fingerprint); err != nil {
		return p, fmt.Errorf("fingerprint: %w", err)
	}
	var err error
	if p.Offset, err = strconv.ParseInt(f[1], 10, 64); err != nil || p.Offset < 0 {
		return p, fmt.Errorf("offset %q is not a byte offset", f[1])
	}
	if p.Line, err = strconv.Atoi(f[2]); err != nil || p.Line < 0 {
		return p, fmt.Errorf("line %q is not a line count", f[2])
	}
	if p.Records, err = strconv.ParseInt(f[3], 10, 64); err != nil || p.Records < 0 {
		return p, fmt.Errorf("records %q is not a count", f[3])
	}
	if err := hex32(f[4], &p.Anchor); err != nil {
		return p, fmt.Errorf("anchor: %w", err)
	}
	if p.File, err = strconv.Unquote(f[5]); err != nil {
		return p, fmt.Errorf("file %s is not a quoted name", f[5])
	}
	return p, nil
}

func hex32(s string, out *[32]byte) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return fmt.Errorf("%q is not 64 hex digits", s)
	}
	copy(out[:], b)
	return nil
}
