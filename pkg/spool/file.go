package spool

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"roamsettle/pkg/durable"
)

// Folders of a spool.
const (
	OpenDir  = "open"  // sessions still receiving records
	ReadyDir = "ready" // closed sessions waiting for push
	SentDir  = "sent"  // pushed, one sub-folder per batch
)

// OpenLock is the lock file in the spool root held by every writer of
// open/ (the listener, import and sweep; push only while it sweeps).
const OpenLock = ".open.lock"

// FileExt ends every spool file name.
const FileExt = ".sess"

// Layout is a spool folder.
type Layout struct{ Root string }

func (l Layout) Open() string  { return filepath.Join(l.Root, OpenDir) }
func (l Layout) Ready() string { return filepath.Join(l.Root, ReadyDir) }
func (l Layout) Sent() string  { return filepath.Join(l.Root, SentDir) }

// Init creates the spool folders, durably.
func (l Layout) Init() error {
	for _, d := range []string{l.Root, l.Open(), l.Ready(), l.Sent()} {
		if err := durable.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// FileName names a session's spool file: NAS name, derived session start
// (UTC, to the second) and the escaped Acct-Session-Id. The start keeps
// apart sessions that reuse an id after a NAS reboot.
func FileName(nas, sessionID string, start time.Time) string {
	var b strings.Builder
	for i := 0; i < len(sessionID); i++ {
		c := sessionID[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "~%02X", c)
		}
	}
	sid := b.String()
	if len(sid) > 120 { // keep names short; the hash keeps them unique
		sum := sha256.Sum256([]byte(sessionID))
		sid = sid[:100] + "~~" + hex.EncodeToString(sum[:8])
	}
	return fmt.Sprintf("%s_%s_%s%s", nas, start.UTC().Format("20060102T150405Z"), sid, FileExt)
}

// Append appends records to the session file at path, creating it with
// the header when new. A torn last line left by a crash (no LF, so never
// acknowledged) is cut off first. With sync the data is fsynced, and so is
// the folder when the file was created.
func Append(path string, recs []Record, sync bool) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := repairTail(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var buf []byte
	if size == 0 {
		buf = append(buf, Header...)
		buf = append(buf, '\n')
	}
	for i := range recs {
		buf = recs[i].AppendLine(buf)
	}
	if _, err := f.WriteAt(buf, size); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !sync {
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	if size == 0 {
		return durable.SyncDir(filepath.Dir(path))
	}
	return nil
}

// repairTail truncates f after its last LF and returns the new size.
func repairTail(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	const chunk = 4096
	buf := make([]byte, chunk)
	end := size
	for end > 0 {
		off := end - chunk
		if off < 0 {
			off = 0
		}
		n, err := f.ReadAt(buf[:end-off], off)
		if err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := off + int64(i) + 1
			if keep != size {
				if err := f.Truncate(keep); err != nil {
					return 0, err
				}
			}
			return keep, nil
		}
		end = off
	}
	// No LF at all: not even the header survived.
	return 0, f.Truncate(0)
}

// ErrTornTail is a last line without its LF: a write cut short by a crash.
var ErrTornTail = errors.New("last line has no line end (write cut short)")

// LineError places a bad line in its file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads a spool file's records, streaming.
type Reader struct {
	name string
	br   *bufio.Reader
	line int
}

// MaxLine bounds one spool line; a longer one is an error, not a huge read.
const MaxLine = 64 * 1024

// NewReader reads spool records from r; name is used in errors.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 16*1024)}
}

// Reset makes r read a new file from rd, keeping its buffer: a reader of
// many small files (a batch's members) then allocates nothing per file.
func (r *Reader) Reset(rd io.Reader, name string) {
	r.name, r.line = name, 0
	r.br.Reset(rd)
}

// Line is the number of the last line read.
func (r *Reader) Line() int { return r.line }

// Next returns the next record, io.EOF at the end, or a *LineError.
func (r *Reader) Next() (Record, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Record{}, err
		}
		if r.line == 1 {
			if string(line) != Header {
				return Record{}, &LineError{r.name, 1, fmt.Errorf("not a spool file: first line must be %q", Header)}
			}
			continue
		}
		rec, err := ParseLine(line)
		if err != nil {
			return rec, &LineError{r.name, r.line, err}
		}
		return rec, nil
	}
}

func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if err == nil && line == nil { // common case: the whole line is buffered
			r.line++
			return frag[:len(frag)-1], nil
		}
		line = append(line, frag...)
		if len(line) > MaxLine {
			return nil, &LineError{r.name, r.line + 1, fmt.Errorf("line longer than %d bytes", MaxLine)}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(line) == 0 {
				if r.line == 0 {
					return nil, &LineError{r.name, 1, errors.New("empty file: no spool header")}
				}
				return nil, io.EOF
			}
			return nil, &LineError{r.name, r.line + 1, ErrTornTail}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		r.line++
		return line[:len(line)-1], nil
	}
}

// ReadFile reads every record of a spool file.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := NewReader(f, path)
	var out []Record
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}
