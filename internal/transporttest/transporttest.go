// Package transporttest holds a destination of batch files to the contract
// push relies on (docs/push.md "Uploads"), the way restic's backend test
// suite holds its backends: a destination's test opens one on a fresh
// folder and calls Run. A destination that can read files back (Reader)
// is a publish destination and is held to the publisher's contract too
// (docs/publish-transport.md).
package transporttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Transport is what the suite tests: the methods of push.Transport,
// declared here so that a destination needs no import of push to run it.
type Transport interface {
	// Put copies the local file to name: to a temporary name, checked,
	// then renamed into place. progress, when not nil, gets the bytes sent.
	Put(ctx context.Context, localPath, name string, progress func(int64)) error
	// Stat describes name; an error that errors.Is fs.ErrNotExist when it
	// is not there.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	Close() error
}

// Streamer is a Transport that can also upload a file while it is
// written. Run checks it on a transport that has it: Close on the writer
// puts the file in place, cancelling ctx first abandons it.
type Streamer interface {
	Stream(ctx context.Context, name string, progress func(int64)) (io.WriteCloser, error)
}

// Reader is a Transport that also reads files back: a destination of
// `roamreport publish`, which reads the remote MANIFEST. Run holds a
// transport that has it to the publisher's contract as well: names with
// folders (ISPA/2026-07/MANIFEST), the folders made on demand; ReadFile
// with its limit; replacing an existing file and a leftover temporary in
// such a folder.
type Reader interface {
	// ReadFile returns name's content, at most max bytes (an error beyond
	// that); an error that errors.Is fs.ErrNotExist when it is missing.
	ReadFile(ctx context.Context, name string, max int64) ([]byte, error)
}

// Run holds one transport to the contract. open returns a transport on a
// fresh, empty folder and that folder's local path, which the suite reads
// and writes directly (for a server on this host, the folder it serves).
// Temporary names are the project's: "." + name + ".part" (docs/batch.md).
func Run(t *testing.T, open func(t *testing.T) (tr Transport, dir string)) {
	tr, dir := open(t)
	defer tr.Close()
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "ISPB-0000000001.tar")
	content := bytes.Repeat([]byte("roamsettle conformance\n"), 100_000) // > 2 MB: many SFTP writes in flight
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("stat of a missing name is ErrNotExist", func(t *testing.T) {
		if _, err := tr.Stat(ctx, "nothing-here"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("put lands whole under the final name, nothing else", func(t *testing.T) {
		var sent int64
		if err := tr.Put(ctx, src, "ISPB-0000000001.tar", func(n int64) { sent += n }); err != nil {
			t.Fatal(err)
		}
		if sent != int64(len(content)) {
			t.Errorf("progress counted %d bytes, want %d", sent, len(content))
		}
		fi, err := tr.Stat(ctx, "ISPB-0000000001.tar")
		if err != nil || fi.Size() != int64(len(content)) {
			t.Fatalf("stat after put: %v, %v", fi, err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "ISPB-0000000001.tar"))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("content differs after put (%d bytes, %v)", len(got), err)
		}
		if n := names(t, dir); strings.Join(n, " ") != "ISPB-0000000001.tar" {
			t.Fatalf("folder holds %v", n)
		}
	})
	t.Run("put replaces the final name and a leftover temporary", func(t *testing.T) {
		// What a crash mid-upload leaves: a partial temporary file.
		if err := os.WriteFile(filepath.Join(dir, ".ISPB-0000000001.tar.part"), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ISPB-0000000001.tar"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tr.Put(ctx, src, "ISPB-0000000001.tar", nil); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "ISPB-0000000001.tar"))
		if !bytes.Equal(got, content) {
			t.Fatal("final name not replaced")
		}
		if n := names(t, dir); strings.Join(n, " ") != "ISPB-0000000001.tar" {
			t.Fatalf("folder holds %v, want no leftovers", n)
		}
	})
	t.Run("put of a missing local file fails and creates nothing", func(t *testing.T) {
		err := tr.Put(ctx, filepath.Join(t.TempDir(), "absent"), "ISPB-0000000002.tar", nil)
		if err == nil {
			t.Fatal("no error")
		}
		if _, err := tr.Stat(ctx, "ISPB-0000000002.tar"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("final name exists after failed put: %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "e")
		os.WriteFile(empty, nil, 0o644)
		if err := tr.Put(ctx, empty, "empty", nil); err != nil {
			t.Fatal(err)
		}
		if fi, err := tr.Stat(ctx, "empty"); err != nil || fi.Size() != 0 {
			t.Fatalf("%v %v", fi, err)
		}
	})
	t.Run("cancelled context fails the put", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := tr.Put(cctx, src, "ISPB-0000000003.tar", nil); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
		if _, err := os.Stat(filepath.Join(dir, "ISPB-0000000003.tar")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("final name exists after cancelled put: %v", err)
		}
	})
	if st, ok := tr.(Streamer); ok {
		t.Run("stream lands whole on Close", func(t *testing.T) {
			w, err := st.Stream(ctx, "ISPB-0000000004.tar", nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				if _, err := w.Write(content[i*len(content)/10 : (i+1)*len(content)/10]); err != nil {
					t.Fatal(err)
				}
				if i == 5 {
					if _, err := os.Stat(filepath.Join(dir, "ISPB-0000000004.tar")); !errors.Is(err, fs.ErrNotExist) {
						t.Fatal("final name visible before Close")
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "ISPB-0000000004.tar"))
			if !bytes.Equal(got, content) {
				t.Fatalf("streamed content differs (%d bytes)", len(got))
			}
			if _, err := os.Stat(filepath.Join(dir, ".ISPB-0000000004.tar.part")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("temporary left behind")
			}
		})
		t.Run("cancelled stream never reaches its final name", func(t *testing.T) {
			sctx, cancel := context.WithCancel(ctx)
			w, err := st.Stream(sctx, "ISPB-0000000005.tar", nil)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(content[:100_000])
			cancel()
			if err := w.Close(); err == nil {
				t.Fatal("Close after cancel succeeded")
			}
			if _, err := os.Stat(filepath.Join(dir, "ISPB-0000000005.tar")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatal("final name exists after a cancelled stream")
			}
			// The connection still serves.
			if _, err := tr.Stat(ctx, "ISPB-0000000004.tar"); err != nil {
				t.Fatal(err)
			}
		})
	}
	if rd, ok := tr.(Reader); ok {
		publisher(t, ctx, tr, rd, dir, src, content)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// publisher is the part of the contract pkg/publish relies on.
func publisher(t *testing.T, ctx context.Context, tr Transport, rd Reader, dir, src string, content []byte) {
	manifest := filepath.Join(t.TempDir(), "MANIFEST")
	mcontent := []byte("sha256 detail.csv 3f2a\nsessions 42\n")
	if err := os.WriteFile(manifest, mcontent, 0o644); err != nil {
		t.Fatal(err)
	}
	period := filepath.Join(dir, "ISPA", "2026-07")
	t.Run("nested names are made on demand", func(t *testing.T) {
		if _, err := tr.Stat(ctx, "ISPA/2026-07/MANIFEST"); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stat in a missing folder: got %v, want fs.ErrNotExist", err)
		}
		if err := tr.Put(ctx, src, "ISPA/2026-07/detail.csv", nil); err != nil {
			t.Fatal(err)
		}
		if err := tr.Put(ctx, manifest, "ISPA/2026-07/MANIFEST", nil); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(period, "detail.csv"))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("content differs after nested put (%d bytes, %v)", len(got), err)
		}
		if fi, err := tr.Stat(ctx, "ISPA/2026-07/MANIFEST"); err != nil || fi.Size() != int64(len(mcontent)) {
			t.Fatalf("stat after nested put: %v, %v", fi, err)
		}
		if n := names(t, period); strings.Join(n, " ") != "MANIFEST detail.csv" {
			t.Fatalf("folder holds %v", n)
		}
	})
	t.Run("read file", func(t *testing.T) {
		got, err := rd.ReadFile(ctx, "ISPA/2026-07/MANIFEST", int64(len(mcontent)))
		if err != nil || !bytes.Equal(got, mcontent) {
			t.Fatalf("got %q, %v; want %q", got, err, mcontent)
		}
		got, err = rd.ReadFile(ctx, "ISPA/2026-07/detail.csv", 1<<30)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("large file: %d bytes, %v", len(got), err)
		}
	})
	t.Run("read file beyond max fails", func(t *testing.T) {
		got, err := rd.ReadFile(ctx, "ISPA/2026-07/MANIFEST", int64(len(mcontent))-1)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %d bytes, %v; want an error that is not fs.ErrNotExist", len(got), err)
		}
		// The destination still serves.
		if _, err := rd.ReadFile(ctx, "ISPA/2026-07/MANIFEST", 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("read missing file is ErrNotExist", func(t *testing.T) {
		for _, name := range []string{"ISPA/2026-07/nothing", "ISPZ/2026-07/MANIFEST"} {
			if _, err := rd.ReadFile(ctx, name, 1<<20); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: got %v, want fs.ErrNotExist", name, err)
			}
		}
	})
	t.Run("empty file reads back empty", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "e")
		os.WriteFile(empty, nil, 0o644)
		if err := tr.Put(ctx, empty, "ISPA/2026-06/empty", nil); err != nil {
			t.Fatal(err)
		}
		if got, err := rd.ReadFile(ctx, "ISPA/2026-06/empty", 0); err != nil || len(got) != 0 {
			t.Fatalf("%q %v", got, err)
		}
	})
	t.Run("put replaces a file and a leftover temporary in a folder", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(period, ".MANIFEST.part"), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(period, "MANIFEST"), []byte("an older revision"), 0o644); err != nil {
			t.Fatal(err)
		}
		var sent int64
		if err := tr.Put(ctx, manifest, "ISPA/2026-07/MANIFEST", func(n int64) { sent += n }); err != nil {
			t.Fatal(err)
		}
		if sent != int64(len(mcontent)) {
			t.Errorf("progress counted %d bytes, want %d", sent, len(mcontent))
		}
		got, err := rd.ReadFile(ctx, "ISPA/2026-07/MANIFEST", 1<<20)
		if err != nil || !bytes.Equal(got, mcontent) {
			t.Fatalf("got %q, %v", got, err)
		}
		if n := names(t, period); strings.Join(n, " ") != "MANIFEST detail.csv" {
			t.Fatalf("folder holds %v, want no leftovers", n)
		}
	})
	t.Run("cancelled put leaves the final name alone", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := tr.Put(cctx, src, "ISPA/2026-07/MANIFEST", nil); err == nil {
			t.Fatal("put with a cancelled context succeeded")
		}
		if got, _ := os.ReadFile(filepath.Join(period, "MANIFEST")); !bytes.Equal(got, mcontent) {
			t.Fatal("final name changed by a cancelled put")
		}
	})
	t.Run("names leaving the root are refused", func(t *testing.T) {
		for _, name := range []string{"../outside", "/etc/passwd", "ISPA/../../outside", ""} {
			if err := tr.Put(ctx, manifest, name, nil); err == nil {
				t.Errorf("put %q succeeded", name)
			}
			if _, err := rd.ReadFile(ctx, name, 1<<20); err == nil {
				t.Errorf("read %q succeeded", name)
			}
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "outside")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a file outside the root: %v", err)
		}
	})
}

// names lists a folder, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}
