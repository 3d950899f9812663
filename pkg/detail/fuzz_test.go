package detail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/spool"
)

// FuzzParse checks what the import relies on, for any input: the parser
// never panics; records are complete, in order and inside the input; a
// well-formed record written out again as FreeRADIUS would parses to the
// same record; every error names the file and a line of its record (and
// the attribute, when the mapper refuses one); a parse resumed at a
// record boundary (as the import does from its saved offset) sees the
// same records; a prefix of the input (a file still being written) yields
// a prefix of the records; and every record the mapper accepts survives
// the spool's line format.
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
			// The record's lines: from its header to its blank line (or to
			// the header that cut it short).
			lastLine := bytes.Count(data[:e.End], []byte("\n"))
			if e.Err != nil {
				// A record cut short is reported at the header that cut it.
				placed(t, e.Err, e.Line, lastLine+1, false)
				continue
			}
			roundTrip(t, e)
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
				placed(t, err, e.Line, lastLine, true)
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

// placed checks that err is an *Error naming the file "f" and a line of
// the record [first, last], in its message too; with field, a mapper's
// error, it names the attribute as well.
func placed(t *testing.T, err error, first, last int, field bool) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) || de.File != "f" || de.Line < first || de.Line > last {
		t.Fatalf("error %v does not place the record (lines %d to %d)", err, first, last)
	}
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("f:%d: ", de.Line)) {
		t.Fatalf("error %q does not start with its place", err)
	}
	var fe *spool.FieldError
	if field && de.Field == "" && !errors.As(err, &fe) {
		t.Fatalf("error %v names no attribute", err)
	}
}

// roundTrip writes a well-formed record out again as FreeRADIUS writes it
// (CRLF line ends keep a value or header ending in CR as it was) and
// parses it: the same header and attributes.
func roundTrip(t *testing.T, e *Entry) {
	t.Helper()
	var b strings.Builder
	b.WriteString(e.Header + "\r\n")
	for _, a := range e.Attrs {
		v := a.Value
		if a.Quoted {
			v = Quote(v)
		}
		line := "\t" + a.Name + " = " + v
		if len(line) > MaxLine {
			return // quoting made it longer than a line may be
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString("\r\n")
	if b.Len() > MaxRecord {
		return
	}
	es, _, err := parseAll(t, b.String())
	if err != nil || len(es) != 1 || es[0].Err != nil {
		t.Fatalf("record %+v written again as %q: %v, %d records", e, b.String(), err, len(es))
	}
	back := es[0]
	if back.Header != e.Header || len(back.Attrs) != len(e.Attrs) {
		t.Fatalf("written again: header %q, %d attributes; want %q, %d", back.Header, len(back.Attrs), e.Header, len(e.Attrs))
	}
	for i, a := range back.Attrs {
		w := e.Attrs[i]
		if a.Name != w.Name || a.Value != w.Value || a.Quoted != w.Quoted || a.Line != i+2 {
			t.Fatalf("written again, attribute %d: %+v, want %+v", i, a, w)
		}
	}
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
