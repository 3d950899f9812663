package detail

import (
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseAll returns every entry and the error that ended the parse
// (nil for a clean io.EOF).
func parseAll(t testing.TB, data string) ([]*Entry, *Parser, error) {
	t.Helper()
	p := NewParser(strings.NewReader(data), "d", 0, 0)
	var out []*Entry
	for {
		e, err := p.Next()
		if err == io.EOF {
			return out, p, nil
		}
		if err != nil {
			return out, p, err
		}
		out = append(out, e)
	}
}

func TestUnquote(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{`"plain"`, "plain", ""},
		{`""`, "", ""},
		{`"a\"b"`, `a"b`, ""},
		{`"back\\slash"`, `back\slash`, ""},
		{`"l1\nl2\rx\ty"`, "l1\nl2\rx\ty", ""},
		{`"\101\102\000\377"`, "AB\x00\xff", ""},
		{`"é ü"`, "é ü", ""},
		{`"\q"`, "q", ""}, // FreeRADIUS's reader: an unknown escape is the character
		{`"open`, "", "unterminated"},
		{`"trailing\`, "", "unterminated"},
		{`"a"b`, "", "after the closing quote"},
		{`"\12x"`, "", "three digits"},
		{`"\400"`, "", "more than a byte"},
		{`x`, "", "not a quoted string"},
	}
	for _, tc := range tests {
		got, err := Unquote(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Unquote(%s) = %q, %v; want error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Unquote(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "abc", `a"b\c`, "x\ny\rz\tw", "\x00\x01\x1f\x7f", "é€", `\101`} {
		q := Quote(s)
		if strings.ContainsAny(q, "\n\r\t") {
			t.Errorf("Quote(%q) = %s holds a line or field break", s, q)
		}
		got, err := Unquote(q)
		if err != nil || got != s {
			t.Errorf("Unquote(Quote(%q)) = %q, %v", s, got, err)
		}
	}
}

const twoRecords = "Tue Jun 30 18:43:35 2026\n" +
	"\tAcct-Status-Type = Start\n" +
	"\tUser-Name = \"user1@aimnet.com\"\n" +
	"\tTimestamp = 1782845015\n" +
	"\n" +
	"Tue Jun 30 18:48:35 2026\n" +
	"\tAcct-Status-Type = Stop\n" +
	"\tAcct-Session-Id = \"a \\\"b\\\"\"\n" +
	"\tTimestamp = 1782845315\n" +
	"\n"

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		entries int    // complete entries returned
		bad     []int  // header lines of entries returned with Err
		errAt   string // substring of each bad entry's error, "file:line: ..."
		end     error  // how the parse ends: nil (EOF) or ErrIncomplete
		offset  int64  // Offset after the last entry; -1: len(data)
	}{
		{name: "empty", data: "", offset: -1},
		{name: "two records", data: twoRecords, entries: 2, offset: -1},
		{name: "extra blank lines and CRLF", data: "\n\n" + strings.ReplaceAll(twoRecords, "\n", "\r\n") + "\n  \n", entries: 2, offset: -1},
		{name: "spaces as indent", data: "Tue Jun 30 18:43:35 2026\n    Acct-Status-Type = Start\n\n", entries: 1, offset: -1},
		{name: "truncated last record", data: twoRecords + "Tue Jun 30 18:50:00 2026\n\tAcct-Status-Type = Start\n", entries: 2,
			end: ErrIncomplete, offset: int64(len(twoRecords))},
		{name: "truncated mid-line", data: twoRecords + "Tue Jun 30 18:50:00 2026\n\tAcct-Sta", entries: 2,
			end: ErrIncomplete, offset: int64(len(twoRecords))},
		{name: "truncated header", data: twoRecords + "Tue Jun", entries: 2, end: ErrIncomplete, offset: int64(len(twoRecords))},
		{name: "missing blank line only", data: strings.TrimSuffix(twoRecords, "\n"), entries: 1, end: ErrIncomplete, offset: int64(strings.Index(twoRecords, "\n\n") + 2)},
		{name: "no equals", data: "Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type Start\n\tUser-Name = \"x\"\n\n" + twoRecords,
			entries: 3, bad: []int{1}, errAt: "d:2: Acct-Status-Type: want \" = \"", offset: -1},
		{name: "bad quote names field and line", data: twoRecords + "Tue Jun 30 18:50:00 2026\n\tAcct-Status-Type = Start\n\tUser-Name = \"x\n\n",
			entries: 3, bad: []int{11}, errAt: "d:13: User-Name: unterminated", offset: -1},
		{name: "not an attribute", data: "Tue Jun 30 18:43:35 2026\n\t= x\n\n", entries: 1, bad: []int{1}, errAt: "d:2: line", offset: -1},
		{name: "header inside a record", data: "Tue Jun 30 18:43:35 2026\n\tAcct-Status-Type = Start\n" + twoRecords,
			entries: 3, bad: []int{1}, errAt: "d:3: header line inside a record", offset: -1},
		{name: "indented first line", data: "\tAcct-Status-Type = Start\n\n" + twoRecords,
			entries: 3, bad: []int{1}, errAt: "d:1: record starts with an indented line", offset: -1},
		{name: "over-long record", data: "Tue Jun 30 18:43:35 2026\n" + strings.Repeat("\tUser-Name = \""+strings.Repeat("x", 60000)+"\"\n", 20) + "\n" + twoRecords,
			entries: 3, bad: []int{1}, errAt: "d:19: record longer than 1048576 bytes", offset: -1},
		{name: "over-long line", data: "Tue Jun 30 18:43:35 2026\n\tUser-Name = \"" + strings.Repeat("x", MaxLine) + "\"\n\n" + twoRecords,
			entries: 3, bad: []int{1}, errAt: "d:2: line longer than", offset: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			es, p, err := parseAll(t, tc.data)
			if tc.end == nil && err != nil || tc.end != nil && !errors.Is(err, tc.end) {
				t.Fatalf("parse ended with %v, want %v", err, tc.end)
			}
			if len(es) != tc.entries {
				t.Fatalf("%d entries, want %d", len(es), tc.entries)
			}
			var bad []int
			for _, e := range es {
				if e.Err != nil {
					bad = append(bad, e.Line)
					if !strings.Contains(e.Err.Error(), tc.errAt) {
						t.Errorf("error %q, want it to contain %q", e.Err, tc.errAt)
					}
				}
				if e.End <= e.Start || e.End > int64(len(tc.data)) {
					t.Errorf("entry at line %d spans [%d,%d) of %d bytes", e.Line, e.Start, e.End, len(tc.data))
				}
			}
			if !slices.Equal(bad, tc.bad) {
				t.Errorf("malformed entries at lines %v, want %v", bad, tc.bad)
			}
			want := tc.offset
			if want < 0 {
				want = int64(len(tc.data))
			}
			if p.Offset() != want {
				t.Errorf("offset %d, want %d", p.Offset(), want)
			}
		})
	}
}

func TestParseAttrs(t *testing.T) {
	es, _, err := parseAll(t, twoRecords)
	if err != nil || len(es) != 2 {
		t.Fatal(err, len(es))
	}
	e := es[1]
	if e.Line != 6 || e.Header != "Tue Jun 30 18:48:35 2026" || e.Start != int64(strings.Index(twoRecords, "\n\n")+2) {
		t.Errorf("second entry: line %d header %q start %d", e.Line, e.Header, e.Start)
	}
	a, ok := e.Get("acct-session-id")
	if !ok || a.Value != `a "b"` || !a.Quoted || a.Line != 8 {
		t.Errorf("Acct-Session-Id = %+v", a)
	}
	a, _ = e.Get("Acct-Status-Type")
	if a.Value != "Stop" || a.Quoted {
		t.Errorf("Acct-Status-Type = %+v", a)
	}
}

// Resuming at a record boundary with the line count gives the same
// records, with the same lines, as reading from the start.
func TestParseResume(t *testing.T) {
	es, _, _ := parseAll(t, twoRecords)
	off := es[0].End
	p := NewParser(strings.NewReader(twoRecords[off:]), "d", off, 5)
	e, err := p.Next()
	if err != nil || e.Line != es[1].Line || e.Start != es[1].Start || e.End != es[1].End {
		t.Fatalf("resumed entry %+v, %v; want line %d [%d,%d)", e, err, es[1].Line, es[1].Start, es[1].End)
	}
}

// endless is a line that never ends; it counts what was read.
type endless struct{ n int64 }

func (r *endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	r.n += int64(len(b))
	return len(b), nil
}

// A record whose line never ends (a stream, a runaway writer) is read
// without being kept, and stops as soon as the import's context ends:
// the offset stays at the end of the last whole record.
func TestParseStopsInAnEndlessLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := &endless{}
	in := io.MultiReader(strings.NewReader(twoRecords+"Tue Jun 30 18:50:00 2026\n\tUser-Name = \""), src)
	p := NewParser(ctxReader{ctx, in}, "d", 0, 0)
	for i := 0; i < 2; i++ {
		if _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := p.Next()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", err)
	}
	if p.Offset() != int64(len(twoRecords)) || p.Line() != 10 {
		t.Errorf("offset %d line %d, want %d and 10: the start of the unfinished record", p.Offset(), p.Line(), len(twoRecords))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("read %d MB of one line; heap in use %d MB", src.n>>20, ms.HeapInuse>>20)
	if src.n < 2*MaxLine {
		t.Errorf("read only %d bytes before the cancel", src.n)
	}
	if ms.HeapInuse > 64<<20 {
		t.Errorf("heap in use %d MB while reading one endless line", ms.HeapInuse>>20)
	}
}
