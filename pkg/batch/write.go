package batch

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"roamsettle/pkg/durable"
	"roamsettle/pkg/spool"
)

// Writer builds a batch in a folder: the tar first, the manifest last, both
// under temporary names until Commit. Memory stays flat: member lines go to
// a temporary file, not a slice.
type Writer struct {
	dir     string
	m       Manifest
	data    *os.File
	sum     hash.Hash
	count   *countWriter
	tw      *tar.Writer
	members *os.File
	// Buffers: a member is a few small writes; unbuffered, a batch of
	// 100,000 files costs a million system calls.
	dataBuf, membersBuf *bufio.Writer
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// Create starts batch seq of sender in dir.
func Create(dir, sender string, seq uint64, created time.Time) (*Writer, error) {
	name := Name(sender, seq)
	data, err := os.CreateTemp(dir, "."+name+DataExt+".tmp-*")
	if err != nil {
		return nil, err
	}
	members, err := os.CreateTemp(dir, "."+name+".members.tmp-*")
	if err != nil {
		data.Close()
		os.Remove(data.Name())
		return nil, err
	}
	w := &Writer{dir: dir, data: data, sum: sha256.New(), count: &countWriter{}, members: members,
		dataBuf: bufio.NewWriterSize(data, 1<<20), membersBuf: bufio.NewWriterSize(members, 64<<10)}
	w.m = Manifest{Sender: sender, Sequence: seq, Created: created.UTC().Truncate(time.Second), DataFile: name + DataExt}
	w.tw = tar.NewWriter(io.MultiWriter(w.dataBuf, w.sum, w.count))
	return w, nil
}

// Tee sends a copy of the tar, as it is written, to t as well (push uses
// it to upload while it bundles). Call it before the first Add. An error
// from t fails the batch: give a writer that never fails if that matters.
func (w *Writer) Tee(t io.Writer) {
	w.tw = tar.NewWriter(io.MultiWriter(w.dataBuf, w.sum, w.count, t))
}

// Add puts the spool file at path into the batch. The file must read back
// cleanly; an unreadable spool file is returned as an error and not added.
func (w *Writer) Add(path string) (Member, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return Member{}, err
	}
	p, err := Prepare(path, content)
	if err != nil {
		return Member{}, err
	}
	return w.AddPrepared(p)
}

// Prepared is a spool file read back, checked and hashed, ready for
// AddPrepared. Preparing is the costly part of adding (parsing every line,
// SHA-256) and is safe to run on many files at once.
type Prepared struct {
	member  Member
	totals  Totals
	content []byte
}

// Prepare checks the content of the spool file at path (its base name
// becomes the member name) and hashes it. A file that does not read back
// cleanly is an error naming the file and line.
func Prepare(path string, content []byte) (Prepared, error) {
	return prepare(path, content, bytes.NewReader(content))
}

// Preparer is Prepare with a read buffer kept from call to call: at
// 100,000 files a fresh buffer per file is most of the garbage. One
// Preparer per goroutine.
type Preparer struct{ br *bufio.Reader }

// Prepare is the package's Prepare.
func (pp *Preparer) Prepare(path string, content []byte) (Prepared, error) {
	if pp.br == nil {
		// At least spool.NewReader's buffer, so it takes this one as it is.
		pp.br = bufio.NewReaderSize(bytes.NewReader(content), 64<<10)
	} else {
		pp.br.Reset(bytes.NewReader(content))
	}
	return prepare(path, content, pp.br)
}

func prepare(path string, content []byte, r io.Reader) (Prepared, error) {
	rd := spool.NewReader(r, path)
	var t Totals
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Prepared{}, err
		}
		t.Add(&rec)
	}
	sum := sha256.Sum256(content)
	mb := Member{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content)), Records: t.Records, Name: filepath.Base(path)}
	return Prepared{member: mb, totals: t, content: content}, nil
}

// AddPrepared appends a prepared spool file to the batch, in call order.
func (w *Writer) AddPrepared(p Prepared) (Member, error) {
	mb, t, content := p.member, p.totals, p.content
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: mb.Name, Size: mb.Size, Mode: 0o644, ModTime: w.m.Created, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return Member{}, err
	}
	if _, err := w.tw.Write(content); err != nil {
		return Member{}, err
	}
	if _, err := mb.WriteTo(w.membersBuf); err != nil {
		return Member{}, err
	}
	w.m.Totals.Files++
	w.m.Totals.Records += t.Records
	w.m.Totals.SessionTime += t.SessionTime
	if t.Records > 0 {
		if w.m.Totals.FirstEvent.IsZero() || t.FirstEvent.Before(w.m.Totals.FirstEvent) {
			w.m.Totals.FirstEvent = t.FirstEvent
		}
		if t.LastEvent.After(w.m.Totals.LastEvent) {
			w.m.Totals.LastEvent = t.LastEvent
		}
	}
	return mb, nil
}

// Commit makes the batch durable under its final names, manifest last,
// and returns the manifest.
func (w *Writer) Commit() (Manifest, error) {
	defer w.Abort()
	if err := w.tw.Close(); err != nil {
		return Manifest{}, err
	}
	if err := w.dataBuf.Flush(); err != nil {
		return Manifest{}, err
	}
	if err := w.membersBuf.Flush(); err != nil {
		return Manifest{}, err
	}
	if err := w.data.Sync(); err != nil {
		return Manifest{}, err
	}
	if err := w.data.Close(); err != nil {
		return Manifest{}, err
	}
	w.m.DataSize = w.count.n
	w.m.DataSHA256 = hex.EncodeToString(w.sum.Sum(nil))
	base := Name(w.m.Sender, w.m.Sequence)
	if err := os.Rename(w.data.Name(), filepath.Join(w.dir, base+DataExt)); err != nil {
		return Manifest{}, err
	}
	if _, err := w.members.Seek(0, io.SeekStart); err != nil {
		return Manifest{}, err
	}
	err := durable.WriteWith(filepath.Join(w.dir, base+ManifestExt), 0o644, func(out io.Writer) error {
		if err := w.m.WriteHeader(out); err != nil {
			return err
		}
		if _, err := io.Copy(out, w.members); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out, ManifestEnd)
		return err
	})
	if err != nil {
		return Manifest{}, err
	}
	return w.m, nil
}

// Abort removes the temporary files; after Commit it only tidies up.
func (w *Writer) Abort() {
	w.data.Close()
	os.Remove(w.data.Name())
	w.members.Close()
	os.Remove(w.members.Name())
}
