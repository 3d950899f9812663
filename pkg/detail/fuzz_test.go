package detail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"roamsettle/pkg/spool"
)

// FuzzParse checks what the import relies on, for any input: the parser
// never panics; records are complete, in order and inside the input; a
// parse resumed at a record boundary (as the import does from its saved
// offset) sees the same records; a prefix of the input (a file still being
// written) yields a prefix of the records; and every record the mapper
// accepts survives the spool's line format.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.detail")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(len(b)/2))
	}
	f.Add([]byte(twoRecords), uint16(30))
	m, err := NewMapper(testEdge(""))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		// The fuzzer does not notice a hang; this panic ends the worker and
		// names the input.
		tm := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("parse of %q (cut %d) hangs", data, cut)) })
		defer tm.Stop()
		full, end, off := parseBytes(t, data, 0, 0)
		if end == nil && off != int64(len(data)) {
			t.Fatalf("clean end at offset %d of %d", off, len(data))
		}
		if end != nil && off >= int64(len(data)) {
			t.Fatalf("incomplete record reported past the end (offset %d of %d)", off, len(data))
		}
		var prevEnd int64
		prevLine := 0
		for i, e := range full {
			if e.Start < prevEnd || e.End <= e.Start || e.End > int64(len(data)) || e.Line <= prevLine {
				t.Fatalf("entry %d: line %d [%d,%d) after [..,%d) line %d", i, e.Line, e.Start, e.End, prevEnd, prevLine)
			}
			prevEnd, prevLine = e.End, e.Line
			for _, a := range e.Attrs {
				if a.Quoted {
					if back, err := Unquote(Quote(a.Value)); err != nil || back != a.Value {
						t.Fatalf("quote round trip of %q: %q, %v", a.Value, back, err)
					}
				}
			}
			im := &importer{m: m}
			r, err := im.record(e, "f")
			if err != nil {
				var de *Error
				if !errors.As(err, &de) || de.File != "f" || de.Line < e.Line {
					t.Fatalf("error %v does not place the record", err)
				}
				continue
			}
			line := r.AppendLine(nil)
			back, err := spoolParse(line)
			if err != nil {
				t.Fatalf("record %+v: spool line %q: %v", r, line, err)
			}
			if back.SessionID != r.SessionID || back.UserName != r.UserName || !back.EventTime.Equal(r.EventTime) ||
				back.InputOctets != r.InputOctets || back.Class != r.Class {
				t.Fatalf("spool round trip: %+v != %+v", back, r)
			}
		}
		// Resume after the first record.
		if len(full) > 1 && full[0].End == full[1].Start {
			rest, _, _ := parseBytes(t, data[full[0].End:], full[0].End, full[1].Line-1)
			if !sameEntries(rest, full[1:]) {
				t.Fatalf("resumed parse differs")
			}
		}
		// A prefix gives a prefix of the records.
		k := int(cut)
		if k > len(data) {
			k = len(data)
		}
		part, _, _ := parseBytes(t, data[:k], 0, 0)
		if len(part) > len(full) || !sameEntries(part, full[:len(part)]) {
			t.Fatalf("prefix of %d bytes: %d entries that are not the first of %d", k, len(part), len(full))
		}
	})
}

func parseBytes(t *testing.T, data []byte, off int64, line int) ([]*Entry, error, int64) {
	p := NewParser(bytes.NewReader(data), "f", off, line)
	var out []*Entry
	for {
		e, err := p.Next()
		if err == io.EOF {
			return out, nil, p.Offset() - off
		}
		if err != nil {
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("unexpected error %v", err)
			}
			return out, err, p.Offset() - off
		}
		out = append(out, e)
	}
}

func sameEntries(a, b []*Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := *a[i], *b[i]
		if (x.Err == nil) != (y.Err == nil) {
			return false
		}
		if x.Err != nil && x.Err.Error() != y.Err.Error() {
			return false
		}
		x.Err, y.Err = nil, nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func spoolParse(line []byte) (spool.Record, error) {
	return spool.ParseLine(bytes.TrimSuffix(line, []byte("\n")))
}
