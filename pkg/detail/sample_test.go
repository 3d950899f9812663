package detail

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestSamples maps each sample detail file (one written by a real
// FreeRADIUS 3.2, the others in the forms older versions and odd inputs
// take) and compares the spool lines and errors with testdata/*.golden.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob("testdata/*.detail")
	if err != nil || len(files) == 0 {
		t.Fatal("no samples", err)
	}
	m, err := NewMapper(testEdge(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			name := filepath.Base(file)
			p := NewParser(f, name, 0, 0)
			im := &importer{m: m}
			var out strings.Builder
			for {
				e, err := p.Next()
				if err == io.EOF {
					break
				}
				if errors.Is(err, ErrIncomplete) {
					fmt.Fprintf(&out, "incomplete: %v\n", err)
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				r, err := im.record(e, name)
				if err != nil {
					fmt.Fprintf(&out, "malformed: %v\n", err)
					continue
				}
				out.Write(r.AppendLine(nil))
			}
			fmt.Fprintf(&out, "offset %d of %d\n", p.Offset(), fileSize(t, file))
			golden := strings.TrimSuffix(file, ".detail") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s differs from %s:\n%s", file, golden, out.String())
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
