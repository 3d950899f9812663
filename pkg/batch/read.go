package batch

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
func Read(manifestPath string, visit VisitFunc) (*Manifest, error) {
	mf, err := os.Open(manifestPath)
	if err != nil {
		return nil, err
	}
	defer mf.Close()
	mr, err := ReadManifest(mf, filepath.Base(manifestPath))
	if err != nil {
		return nil, err
	}
	m := &mr.Header
	base := strings.TrimSuffix(filepath.Base(manifestPath), ManifestExt)
	if got := Name(m.Sender, m.Sequence); got != base {
		return m, fmt.Errorf("%s: sender %s and sequence %d do not match the file name", filepath.Base(manifestPath), m.Sender, m.Sequence)
	}
	if m.DataFile != base+DataExt {
		return m, fmt.Errorf("%s: data_file %q, want %q", filepath.Base(manifestPath), m.DataFile, base+DataExt)
	}
	dataPath := filepath.Join(filepath.Dir(manifestPath), m.DataFile)
	df, err := os.Open(dataPath)
	if err != nil {
		return m, err
	}
	defer df.Close()
	sum := sha256.New()
	cnt := &countWriter{}
	// Buffered: the tar reader asks for 512-byte headers and small members,
	// and one read system call each would dominate a large batch.
	data := bufio.NewReaderSize(df, 256*1024)
	tr := tar.NewReader(io.TeeReader(data, io.MultiWriter(sum, cnt)))
	var got Totals
	rd := spool.NewReader(nil, "") // reused for every member
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
			return m, fmt.Errorf("%s: %w", m.DataFile, terr)
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
		if err := readMember(rd, tr, &mb, &got, visit); err != nil {
			return m, fmt.Errorf("%s: %w", m.DataFile, err)
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
