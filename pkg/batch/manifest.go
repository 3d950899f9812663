package batch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ManifestHeader is the first line of a manifest; the number is the version.
const ManifestHeader = "#roambatch 1"

// Manifest is a manifest's fixed part; members follow it in tar order.
type Manifest struct {
	Sender     string
	Sequence   uint64
	Created    time.Time // when the edge made the batch (UTC)
	DataFile   string    // base name of the tar
	DataSize   int64
	DataSHA256 string // hex
	Totals     Totals
}

// Member is one spool file inside the batch.
type Member struct {
	SHA256  string // hex
	Size    int64
	Records int64
	Name    string
	Index   int // position in the manifest, from 1; set by NextMember, not written
}

// WriteHeader writes the manifest's fixed part.
func (m *Manifest) WriteHeader(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s\nsender %s\nsequence %d\ncreated %s\ndata_file %s\ndata_size %d\ndata_sha256 %s\n"+
		"files %d\nrecords %d\nsession_time_sum %d\nfirst_event %s\nlast_event %s\n",
		ManifestHeader, m.Sender, m.Sequence, fmtTime(m.Created), m.DataFile, m.DataSize, m.DataSHA256,
		m.Totals.Files, m.Totals.Records, m.Totals.SessionTime, fmtTime(m.Totals.FirstEvent), fmtTime(m.Totals.LastEvent))
	return err
}

// WriteMember writes one member line.
func (mb *Member) WriteTo(w io.Writer) (int64, error) {
	n, err := fmt.Fprintf(w, "member %s %d %d %s\n", mb.SHA256, mb.Size, mb.Records, mb.Name)
	return int64(n), err
}

// ManifestEnd closes a manifest, so a cut-short one is detected.
const ManifestEnd = "end"

// ManifestError places a problem in a manifest.
type ManifestError struct {
	File string
	Line int
	Msg  string
}

func (e *ManifestError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ManifestReader reads a manifest, streaming its member lines.
type ManifestReader struct {
	name string
	sc   *bufio.Scanner
	line int
	done bool
	n    int // members read
	// Header is the fixed part, read by OpenManifest.
	Header Manifest
}

var hexRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ReadManifest reads a manifest's fixed part from r; name is used in errors.
func ReadManifest(r io.Reader, name string) (*ManifestReader, error) {
	mr := &ManifestReader{name: name, sc: bufio.NewScanner(r)}
	mr.sc.Buffer(make([]byte, 4096), 64*1024)
	if !mr.scan() || mr.sc.Text() != ManifestHeader {
		return nil, mr.errf("not a batch manifest: first line must be %q", ManifestHeader)
	}
	h := &mr.Header
	keys := []string{"sender", "sequence", "created", "data_file", "data_size", "data_sha256",
		"files", "records", "session_time_sum", "first_event", "last_event"}
	for _, want := range keys {
		if !mr.scan() {
			return nil, mr.errf("cut short: expected %q", want)
		}
		k, v, _ := strings.Cut(mr.sc.Text(), " ")
		if k != want {
			return nil, mr.errf("expected %q, found %q", want, k)
		}
		var err error
		switch k {
		case "sender":
			h.Sender = v
		case "sequence":
			h.Sequence, err = strconv.ParseUint(v, 10, 64)
		case "created":
			h.Created, err = parseTime(v)
		case "data_file":
			h.DataFile = v
		case "data_size":
			h.DataSize, err = parseCount(v)
		case "data_sha256":
			if !hexRe.MatchString(v) {
				err = errors.New("not 64 lower-case hex digits")
			}
			h.DataSHA256 = v
		case "files":
			h.Totals.Files, err = parseCount(v)
		case "records":
			h.Totals.Records, err = parseCount(v)
		case "session_time_sum":
			h.Totals.SessionTime, err = parseCount(v)
		case "first_event":
			h.Totals.FirstEvent, err = parseTime(v)
		case "last_event":
			h.Totals.LastEvent, err = parseTime(v)
		}
		if err != nil {
			return nil, mr.errf("%s %q: %v", k, v, err)
		}
	}
	return mr, nil
}

func parseCount(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a non-negative integer")
	}
	return n, nil
}

func (mr *ManifestReader) scan() bool {
	if !mr.sc.Scan() {
		return false
	}
	mr.line++
	return true
}

func (mr *ManifestReader) errf(format string, args ...any) error {
	if err := mr.sc.Err(); err != nil {
		return &ManifestError{mr.name, mr.line + 1, err.Error()}
	}
	return &ManifestError{mr.name, max(mr.line, 1), fmt.Sprintf(format, args...)}
}

// NextMember returns the next member line, or io.EOF after the end line.
func (mr *ManifestReader) NextMember() (Member, error) {
	if mr.done {
		return Member{}, io.EOF
	}
	if !mr.scan() {
		return Member{}, mr.errf("cut short: no %q line", ManifestEnd)
	}
	text := mr.sc.Text()
	if text == ManifestEnd {
		mr.done = true
		if mr.scan() {
			return Member{}, mr.errf("text after %q", ManifestEnd)
		}
		return Member{}, io.EOF
	}
	parts := strings.SplitN(text, " ", 5)
	if len(parts) != 5 || parts[0] != "member" {
		return Member{}, mr.errf("want \"member SHA256 SIZE RECORDS NAME\", found %q", text)
	}
	mr.n++
	mb := Member{SHA256: parts[1], Name: parts[4], Index: mr.n}
	if !hexRe.MatchString(mb.SHA256) {
		return mb, mr.errf("member sha256 %q is not 64 lower-case hex digits", mb.SHA256)
	}
	var err1, err2 error
	mb.Size, err1 = parseCount(parts[2])
	mb.Records, err2 = parseCount(parts[3])
	if err1 != nil || err2 != nil {
		return mb, mr.errf("member size or record count is not a number: %q", text)
	}
	if mb.Name == "" || strings.ContainsAny(mb.Name, "/\\") || strings.HasPrefix(mb.Name, ".") {
		return mb, mr.errf("member name %q is not a plain file name", mb.Name)
	}
	return mb, nil
}
