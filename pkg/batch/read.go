package batch

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"roamsettle/pkg/durable"
	"roamsettle/pkg/spool"
)

// VisitFunc receives each record of a batch with its lineage: the member
// file and the line in it.
type VisitFunc func(m *Member, line int, rec *spool.Record) error

// Read streams the batch whose manifest is at manifestPath (the tar beside
// it) and checks it all: every member's name, size, SHA-256 and record
// count, the control totals, and the tar's own size and SHA-256. visit sees
// every record as it is read, before the final checks, so a caller loading
// records must hold them in a transaction until Read returns nil.
// The first error stops the read; it names the file, member and line.
// A tar that is there but cannot be opened or read (permissions, an I/O
// error) is an *UnreadableError: that says nothing about its content.
func Read(manifestPath string, visit VisitFunc) (m *Manifest, err error) {
	mf, err := OpenRegular(manifestPath)
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	mr, err := ReadManifest(mf, filepath.Base(manifestPath))
	if err != nil {
		return nil, err
	}
	m = &mr.Header
	base := strings.TrimSuffix(filepath.Base(manifestPath), ManifestExt)
	if got := Name(m.Sender, m.Sequence); got != base {
		return m, fmt.Errorf("%s: sender %s and sequence %d do not match the file name", filepath.Base(manifestPath), m.Sender, m.Sequence)
	}
	if m.DataFile != base+DataExt {
		return m, fmt.Errorf("%s: data_file %q, want %q", filepath.Base(manifestPath), m.DataFile, base+DataExt)
	}
	dataPath := filepath.Join(filepath.Dir(manifestPath), m.DataFile)
	df, err := OpenRegular(dataPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return m, err
		}
		return m, &UnreadableError{err}
	}
	defer df.Close()
	// Whatever the tar and record parsers make of a failed read, the
	// batch's error is then the read's.
	er := &errReader{r: df}
	defer func() {
		if err != nil && er.err != nil {
			err = &UnreadableError{er.err}
		}
	}()
	sum := sha256.New()
	cnt := &countWriter{}
	// Buffered: the tar reader asks for 512-byte headers and small members,
	// and one read system call each would dominate a large batch.
	data := bufio.NewReaderSize(er, 256*1024)
	tr := tar.NewReader(io.TeeReader(data, io.MultiWriter(sum, cnt)))
	var got Totals
	rd := spool.NewReader(nil, "") // reused for every member
	// cut names where a tar that ends too early ends: a truncated upload
	// is told from a damaged one by the reason alone.
	last := "its first member"
	cut := func(err error) error {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: cut short after %d of %d bytes, in or after member %s: %w", m.DataFile, cnt.n, m.DataSize, last, err)
		}
		return fmt.Errorf("%s: %w", m.DataFile, err)
	}
	for {
		hdr, terr := tr.Next()
		mb, merr := mr.NextMember()
		if terr == io.EOF && merr == io.EOF {
			break
		}
		if merr != nil && merr != io.EOF {
			return m, merr
		}
		if terr != nil && terr != io.EOF {
			return m, cut(terr)
		}
		if terr == io.EOF {
			return m, fmt.Errorf("%s: member %s is in the manifest but not in the data", m.DataFile, mb.Name)
		}
		if merr == io.EOF {
			return m, fmt.Errorf("%s: member %s is in the data but not in the manifest", m.DataFile, hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Name != mb.Name {
			return m, fmt.Errorf("%s: member %q (type %c) where the manifest lists %q", m.DataFile, hdr.Name, hdr.Typeflag, mb.Name)
		}
		if hdr.Size != mb.Size {
			return m, fmt.Errorf("%s: member %s is %d bytes, manifest says %d", m.DataFile, mb.Name, hdr.Size, mb.Size)
		}
		last = mb.Name
		if err := readMember(rd, tr, &mb, &got, visit); err != nil {
			return m, cut(err)
		}
		got.Files++
	}
	// Drain the tar's trailing padding so size and hash cover the whole file.
	if _, err := io.Copy(io.Discard, io.TeeReader(data, io.MultiWriter(sum, cnt))); err != nil {
		return m, err
	}
	if cnt.n != m.DataSize {
		return m, fmt.Errorf("%s: %d bytes, manifest says %d", m.DataFile, cnt.n, m.DataSize)
	}
	if h := hex.EncodeToString(sum.Sum(nil)); h != m.DataSHA256 {
		return m, fmt.Errorf("%s: SHA-256 %s, manifest says %s", m.DataFile, h, m.DataSHA256)
	}
	if d := got.Diff(m.Totals); len(d) > 0 {
		return m, fmt.Errorf("%s: control totals differ: %s", filepath.Base(manifestPath), strings.Join(d, "; "))
	}
	return m, nil
}

// UnreadableError is a batch's tar that exists but cannot be opened or
// read (its permissions, an I/O error). Unlike a damaged tar it says
// nothing about the batch, so roamload leaves such a batch in inbound/
// for the next run instead of quarantining it.
type UnreadableError struct{ Err error }

func (e *UnreadableError) Error() string { return e.Err.Error() }
func (e *UnreadableError) Unwrap() error { return e.Err }

// OpenRegular opens a batch file for reading only if it is a regular
// file, never through a symbolic link: inbound/ is a drop folder other
// parties write to (durable.OpenRegular).
func OpenRegular(path string) (*os.File, error) {
	return durable.OpenRegular(path, false, "never read (a batch is two regular files)")
}

// errReader keeps the first error of its reader other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func readMember(rd *spool.Reader, r io.Reader, mb *Member, total *Totals, visit VisitFunc) error {
	h := sha256.New()
	rd.Reset(io.TeeReader(r, h), mb.Name)
	var n int64
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var le *spool.LineError
			if errors.As(err, &le) {
				return fmt.Errorf("member %w", err)
			}
			return err
		}
		n++
		total.Add(&rec)
		if visit != nil {
			if err := visit(mb, rd.Line(), &rec); err != nil {
				return err
			}
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mb.SHA256 {
		return fmt.Errorf("member %s: SHA-256 %s, manifest says %s", mb.Name, got, mb.SHA256)
	}
	if n != mb.Records {
		return fmt.Errorf("member %s: %d records, manifest says %d", mb.Name, n, mb.Records)
	}
	return nil
}
