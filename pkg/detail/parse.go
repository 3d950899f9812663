package detail

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A FreeRADIUS detail file is a sequence of records:
//
//	Tue Jun 30 18:43:35 2026
//		Acct-Status-Type = Start
//		User-Name = "user1@aimnet.com"
//		Timestamp = 1782845015
//	<blank line>
//
// A header line (not indented; FreeRADIUS writes ctime(3) by default, but
// the header is configurable so its text is only a fallback for the time),
// tab-indented "Attr = value" lines, and a blank line that ends the record.
// FreeRADIUS writes a whole record per request, so a record without its
// blank line at the end of the file is still being written: it is left for
// the next run.

// Bounds on what one record may hold. A record beyond one of them is
// malformed: it is read to its end (its blank line) without being kept,
// so a hostile or broken file costs neither memory nor a huge read.
const (
	// MaxLine bounds one line (header or attribute).
	MaxLine = 64 * 1024
	// MaxRecord bounds a whole record, header to blank line. A RADIUS
	// packet is at most 4096 bytes, which FreeRADIUS writes in well under
	// 100 KiB of text.
	MaxRecord = 1 << 20
	// MaxAttrs bounds the attributes of one record: a RADIUS packet holds
	// at most 2038 (4096 bytes, 2 at least each), and FreeRADIUS adds a
	// few of its own (Timestamp, Packet-Src-IP-Address, ...).
	MaxAttrs = 2100
)

// Attr is one "Name = value" line. Value is decoded: quotes removed and
// escapes resolved for a quoted value, the text as written otherwise.
type Attr struct {
	Name   string
	Value  string
	Quoted bool
	Line   int
}

// Entry is one record as written in the file.
type Entry struct {
	Line   int    // line of the header
	Start  int64  // byte offset of the header
	End    int64  // byte offset just past the blank line that ends it
	Header string // the header line
	Attrs  []Attr
	Err    error // *Error for a malformed record; the entry is complete and may be skipped
}

// Get returns the first attribute with that name (compared
// case-insensitively, like FreeRADIUS dictionaries).
func (e *Entry) Get(name string) (Attr, bool) {
	for _, a := range e.Attrs {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return Attr{}, false
}

// Error is a malformed record or field, placed by file and line.
type Error struct {
	File  string
	Line  int
	Field string // attribute name; "" for the record's structure
	Err   error
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Field, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrIncomplete is the last record of a file without its terminating blank
// line: FreeRADIUS may still be writing it.
var ErrIncomplete = errors.New("last record has no terminating blank line (still being written?)")

// Parser reads a detail file's records, streaming.
type Parser struct {
	name string
	br   *bufio.Reader
	line int   // lines consumed
	off  int64 // bytes consumed
	// pending is a line read but not consumed: a header found where an
	// attribute line or blank line was expected.
	pending    []byte
	hasPending bool
	pendingEOF bool  // pending has no LF: it is the file's unterminated tail
	pendingLen int64 // bytes of pending in the file (it may have been cut)
}

// NewParser reads records from r; name is used in errors. r starts at byte
// offset off, which is line line+1 of the file (0, 0 for the beginning), so
// an import can resume after the last record it took.
func NewParser(r io.Reader, name string, off int64, line int) *Parser {
	return &Parser{name: name, br: bufio.NewReaderSize(r, 64*1024), off: off, line: line}
}

// Offset is the byte offset after the last record returned.
func (p *Parser) Offset() int64 { return p.off }

// Line is the number of lines consumed.
func (p *Parser) Line() int { return p.line }

// Next returns the next record. A malformed but complete record is
// returned with Err set. At the end of the file it returns io.EOF, or an
// *Error wrapping ErrIncomplete when an unterminated record remains (its
// bytes are not consumed: Offset stays at its start), after which the
// Parser is done. Other errors are read errors (the reader's, wrapped:
// a cancelled import's context error among them); Offset then also stays
// at the start of the record being read.
func (p *Parser) Next() (*Entry, error) {
	// Skip blank lines between records.
	var first []byte
	for {
		l, eof, err := p.readLine()
		if err != nil {
			return nil, err
		}
		if eof && l == nil {
			return nil, io.EOF
		}
		if eof {
			// Unterminated line at the end: an incomplete record.
			return nil, &Error{File: p.name, Line: p.line + 1, Err: ErrIncomplete}
		}
		if isBlank(l) {
			p.consume()
			continue
		}
		first = l
		break
	}
	e := &Entry{Line: p.line + 1, Start: p.off}
	startLine, startOff := p.line, p.off
	// unread gives the record back: the next call starts at its header.
	unread := func() {
		p.line, p.off = startLine, startOff
		p.hasPending = false
	}
	p.consume()
	if isIndented(first) {
		e.Err = &Error{File: p.name, Line: e.Line, Err: errors.New("record starts with an indented line, not a header (missing header or blank line?)")}
		if a, err := parseAttr(trimEOL(first)); err == nil {
			a.Line = e.Line
			e.Attrs = append(e.Attrs, a)
		}
	} else {
		e.Header = string(trimEOL(first))
		if len(trimEOL(first)) > MaxLine {
			e.Err = &Error{File: p.name, Line: e.Line, Err: fmt.Errorf("header longer than %d bytes", MaxLine)}
		}
	}
	for {
		l, eof, err := p.readLine()
		if err != nil {
			unread()
			return nil, err
		}
		if eof {
			// No blank line yet: leave the whole record for the next run.
			unread()
			return nil, &Error{File: p.name, Line: e.Line, Err: ErrIncomplete}
		}
		if isBlank(l) {
			p.consume()
			e.End = p.off
			return e, nil
		}
		if !isIndented(l) {
			// A header where an attribute belongs: the record was cut short
			// (a writer crashed mid-record) and a new one began. The line
			// stays pending for the next call.
			e.End = p.off
			if e.Err == nil {
				e.Err = &Error{File: p.name, Line: p.line + 1, Err: errors.New("header line inside a record: the record before it was cut short")}
			}
			return e, nil
		}
		p.consume()
		ln := p.line
		if e.Err != nil {
			continue // already malformed: skip to its end
		}
		if p.off-e.Start > MaxRecord {
			e.Err = &Error{File: p.name, Line: ln, Err: fmt.Errorf("record longer than %d bytes", MaxRecord)}
			e.Attrs = nil // not kept: the record is skipped
			continue
		}
		if len(trimEOL(l)) > MaxLine {
			e.Err = &Error{File: p.name, Line: ln, Err: fmt.Errorf("line longer than %d bytes", MaxLine)}
			continue
		}
		if len(e.Attrs) >= MaxAttrs {
			e.Err = &Error{File: p.name, Line: ln, Err: fmt.Errorf("more than %d attributes", MaxAttrs)}
			continue
		}
		a, err := parseAttr(trimEOL(l))
		if err != nil {
			e.Err = &Error{File: p.name, Line: ln, Field: a.Name, Err: err}
			continue
		}
		a.Line = ln
		e.Attrs = append(e.Attrs, a)
	}
}

// readLine returns the next line with its LF (a pending one first); eof
// is true when the line has no LF (nil at the very end). Lines longer than
// MaxLine are returned cut to MaxLine+1 bytes plus their LF, so callers
// can tell, while the offsets still count every byte.
func (p *Parser) readLine() (line []byte, eof bool, err error) {
	if p.hasPending {
		return p.pending, p.pendingEOF, nil
	}
	var buf []byte
	var n int64
	for {
		frag, err := p.br.ReadSlice('\n')
		n += int64(len(frag))
		if len(buf) <= MaxLine {
			buf = append(buf, frag...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if n == 0 {
				return nil, true, nil
			}
			p.pending, p.hasPending, p.pendingEOF = buf, true, true
			p.pendingLen = n
			return buf, true, nil
		case err != nil:
			return nil, false, fmt.Errorf("%s: %w", p.name, err)
		}
		if len(buf) > MaxLine+1 {
			buf = append(buf[:MaxLine+1], '\n')
		}
		p.pending, p.hasPending, p.pendingEOF = buf, true, false
		p.pendingLen = n
		return buf, false, nil
	}
}

// consume accepts the pending line.
func (p *Parser) consume() {
	p.hasPending = false
	p.line++
	p.off += p.pendingLen
}

func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l
}

func isBlank(l []byte) bool {
	for _, c := range trimEOL(l) {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func isIndented(l []byte) bool { return len(l) > 0 && (l[0] == '\t' || l[0] == ' ') }

// parseAttr reads "\tName = value". The name is returned even on error so
// the message can name the field.
func parseAttr(l []byte) (Attr, error) {
	s := strings.TrimLeft(string(l), " \t")
	i := 0
	for i < len(s) && isNameByte(s[i]) {
		i++
	}
	a := Attr{Name: s[:i]}
	if i == 0 {
		return a, fmt.Errorf("line %q is not \"Attribute = value\"", abbrev(s))
	}
	rest := strings.TrimLeft(s[i:], " \t")
	if !strings.HasPrefix(rest, "=") {
		return a, fmt.Errorf("want \" = \" after the attribute name, got %q", abbrev(rest))
	}
	v := strings.Trim(rest[1:], " \t")
	if strings.HasPrefix(v, `"`) {
		u, err := Unquote(v)
		if err != nil {
			return a, err
		}
		a.Value, a.Quoted = u, true
		return a, nil
	}
	a.Value = v
	return a, nil
}

// isNameByte is what FreeRADIUS dictionary names are made of.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '/'
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Unquote decodes a value FreeRADIUS wrote in double quotes: \" \\ \n \r
// \t and three-digit octal \ooo; like FreeRADIUS's own reader, any other
// escaped character stands for itself. The closing quote must end the value.
func Unquote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' {
		return "", errors.New("not a quoted string")
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch c {
		case '"':
			if i != len(v)-1 {
				return "", fmt.Errorf("text after the closing quote: %q", abbrev(v[i+1:]))
			}
			return b.String(), nil
		case '\\':
			i++
			if i >= len(v) {
				return "", errors.New("unterminated quoted string")
			}
			switch e := v[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				if isOctal(e) {
					if i+2 >= len(v) || !isOctal(v[i+1]) || !isOctal(v[i+2]) {
						return "", fmt.Errorf("bad octal escape %q (want three digits)", abbrev(v[i-1:]))
					}
					n := int(e-'0')<<6 | int(v[i+1]-'0')<<3 | int(v[i+2]-'0')
					if n > 0xff {
						return "", fmt.Errorf("octal escape \\%s is more than a byte", v[i:i+3])
					}
					b.WriteByte(byte(n))
					i += 2
				} else {
					b.WriteByte(e)
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted string")
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Quote writes s as FreeRADIUS writes a string value: in double quotes,
// with \" \\ \n \r \t, other control bytes and 0x7F as \ooo, and every
// other byte (UTF-8 included) as is.
func Quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	return string(AppendQuote(b, s))
}

// AppendQuote is Quote appending to b.
func AppendQuote(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20 || c == 0x7f:
			b = append(b, '\\', '0'+c>>6, '0'+(c>>3)&7, '0'+c&7)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
