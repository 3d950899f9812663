package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The TOML file is read in one pass over go-toml's unstable parser, which
// gives every key's position (toml decoders give values but not the line of
// each key). The parser checks syntax only; the rules of TOML about what
// may be defined where (a key or table defined twice, a key both a table
// and a value, inline tables closed) are checked here, while the tree is
// built, so every mistake names both lines.

// nodeKind is what a key of the document holds.
type nodeKind int

const (
	tableNode      nodeKind = iota // [table], dotted-key table or inline table
	arrayTableNode                 // [[array of tables]]
	valueNode                      // key = value (arrays are values too)
)

// tableHow says how a table came to exist; TOML's rules depend on it.
type tableHow int

const (
	implicitTable tableHow = iota // only named on the way to [a.b.c]
	headerTable                   // defined by its own [header]
	dottedTable                   // defined by a dotted key a.b = …
	inlineTable                   // defined by { … }, closed for good
)

// tomlNode is one key of the document with the line that defined it.
type tomlNode struct {
	kind nodeKind
	line int

	// tables
	how   tableHow
	keys  map[string]*tomlNode
	order []string // keys in the order they were defined, for messages

	// arrays of tables: one table per [[header]]
	elems []*tomlNode

	// values
	value unstable.Kind
	str   string // a string's text, or "true"/"false"

	// clash is set once a mistake naming this node was reported (a header
	// or dotted key ran into it), so the schema does not report it again.
	clash bool
}

func newTable(how tableHow, line int) *tomlNode {
	return &tomlNode{kind: tableNode, how: how, line: line, keys: map[string]*tomlNode{}}
}

// is reports whether n is a value of TOML type k.
func (n *tomlNode) is(k unstable.Kind) bool { return n.kind == valueNode && n.value == k }

func (t *tomlNode) add(key string, n *tomlNode) {
	t.keys[key] = n
	t.order = append(t.order, key)
}

// typeName names a node's kind in messages: "a TOML integer", "a table".
func (n *tomlNode) typeName() string {
	switch n.kind {
	case tableNode:
		return "a table"
	case arrayTableNode:
		return "an array of tables"
	}
	switch n.value {
	case unstable.String:
		return "a TOML string"
	case unstable.Bool:
		return "a TOML boolean"
	case unstable.Integer:
		return "a TOML integer"
	case unstable.Float:
		return "a TOML float"
	case unstable.Array:
		return "a TOML array"
	case unstable.DateTime:
		return "a TOML date-time"
	case unstable.LocalDateTime:
		return "a TOML local date-time"
	case unstable.LocalDate:
		return "a TOML local date"
	case unstable.LocalTime:
		return "a TOML local time"
	}
	return "a TOML " + strings.ToLower(n.value.String())
}

// tomlReader builds the tree of one document.
type tomlReader struct {
	file       string
	p          unstable.Parser
	lineStarts []int // byte offset of each line, for line numbers
	root       *tomlNode
	errs       Errors
}

// readTOML parses data once into a tree of keys with their lines. A syntax
// error stops the reading (the parser cannot go on) and gives no tree;
// every other mistake is reported and the reading goes on, so all are
// found at once.
func readTOML(file string, data []byte) (*tomlNode, Errors) {
	r := &tomlReader{file: file, root: newTable(headerTable, 0), lineStarts: []int{0}}
	for i, c := range data {
		if c == '\n' {
			r.lineStarts = append(r.lineStarts, i+1)
		}
	}
	r.p.Reset(data)
	cur, path := r.root, ""
	for r.p.NextExpression() {
		e := r.p.Expression()
		switch e.Kind {
		case unstable.Table:
			cur, path = r.header(e, false)
		case unstable.ArrayTable:
			cur, path = r.header(e, true)
		case unstable.KeyValue:
			r.keyValue(cur, path, e)
		}
	}
	if err := r.p.Error(); err != nil {
		line := len(r.lineStarts) // at the end unless the parser says where
		var pe *unstable.ParserError
		if errors.As(err, &pe) {
			if l := r.lineOfSlice(pe.Highlight); l > 0 {
				line = l
			}
			err = errors.New(pe.Message)
		}
		r.errs.add(r.file, line, "", "TOML syntax: %v", err)
		return nil, r.errs
	}
	return r.root, r.errs
}

// lineOf is the line of a byte offset.
func (r *tomlReader) lineOf(offset int) int {
	return sort.Search(len(r.lineStarts), func(i int) bool { return r.lineStarts[i] > offset })
}

// lineOfSlice is the line of a slice of the input, or 0 when it is not one
// (the parser's error highlights usually are).
func (r *tomlReader) lineOfSlice(b []byte) int {
	data := r.p.Data()
	off := cap(data) - cap(b)
	if b == nil || off < 0 || off > len(data) {
		return 0
	}
	return r.lineOf(off)
}

// keyOf returns the parts of a node's (maybe dotted) key and its line.
func (r *tomlReader) keyOf(e *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = r.lineOf(int(k.Raw.Offset))
		}
		parts = append(parts, string(k.Data))
	}
	return parts, line
}

// joinPath names a key for messages as the rest of the package does:
// edge.nas[1].name, where base is the path of the table the key is in.
// A key that is not bare is quoted, so "a.b" is not read as a.b.
func joinPath(base, key string) string {
	bare := key != ""
	for i := 0; i < len(key); i++ {
		c := key[i]
		bare = bare && (c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')
	}
	if !bare {
		key = strconv.Quote(key)
	}
	if base == "" {
		return key
	}
	return base + "." + key
}

// header handles [a.b] and [[a.b]] and returns the table its keys go to,
// with its path. After a mistake the keys still go somewhere (the table
// defined twice, or a detached table) so their own mistakes are found too.
func (r *tomlReader) header(e *unstable.Node, array bool) (*tomlNode, string) {
	keys, line := r.keyOf(e)
	t, path := r.root, ""
	for _, k := range keys[:len(keys)-1] {
		path = joinPath(path, k)
		n, ok := t.keys[k]
		switch {
		case !ok:
			n = newTable(implicitTable, line)
			t.add(k, n)
		case n.kind == arrayTableNode:
			// [a.b] after [[a]] goes into the last element of a.
			path = fmt.Sprintf("%s[%d]", path, len(n.elems)-1)
			n = n.elems[len(n.elems)-1]
		case n.kind == valueNode:
			r.errs.add(r.file, line, path, "both a value (line %d) and a table (line %d)", n.line, line)
			n.clash = true
			return newTable(headerTable, line), path
		case n.how == inlineTable:
			r.errs.add(r.file, line, path, "an inline table (line %d) cannot be extended", n.line)
			return newTable(headerTable, line), path
		}
		t = n
	}
	last := keys[len(keys)-1]
	path = joinPath(path, last)
	n, ok := t.keys[last]
	switch {
	case !ok && array:
		n = &tomlNode{kind: arrayTableNode, line: line}
		t.add(last, n)
	case !ok:
		n = newTable(headerTable, line)
		t.add(last, n)
		return n, path
	case n.kind == valueNode:
		r.errs.add(r.file, line, path, "both a value (line %d) and a table (line %d)", n.line, line)
		n.clash = true
		return newTable(headerTable, line), path
	case n.kind == arrayTableNode && !array:
		r.errs.add(r.file, line, path, "already an array of tables (line %d); it cannot also be a [table]", n.line)
		n.clash = true
		return newTable(headerTable, line), path
	case n.kind == arrayTableNode:
		// one more element, added below
	case array:
		r.errs.add(r.file, line, path, "already a table (line %d); it cannot also be an array of [[tables]]", n.line)
		n.clash = true
		return newTable(headerTable, line), path
	case n.how == inlineTable:
		r.errs.add(r.file, line, path, "an inline table (line %d) cannot be extended", n.line)
		return newTable(headerTable, line), path
	case n.how == implicitTable:
		// [a.b] came first and named a on its way; now a is defined.
		n.how, n.line = headerTable, line
		return n, path
	default:
		r.errs.add(r.file, line, path, "table [%s] defined twice (first on line %d)", strings.Join(keys, "."), n.line)
		return n, path
	}
	elem := newTable(headerTable, line)
	n.elems = append(n.elems, elem)
	return elem, fmt.Sprintf("%s[%d]", path, len(n.elems)-1)
}

// keyValue handles key = value in table t, whose path is base.
func (r *tomlReader) keyValue(t *tomlNode, base string, e *unstable.Node) {
	keys, line := r.keyOf(e)
	path := base
	for _, k := range keys[:len(keys)-1] {
		path = joinPath(path, k)
		n, ok := t.keys[k]
		switch {
		case !ok:
			n = newTable(dottedTable, line)
			t.add(k, n)
		case n.kind == valueNode:
			r.errs.add(r.file, line, path, "both a value (line %d) and a table (line %d)", n.line, line)
			n.clash = true
			return
		case n.kind == arrayTableNode:
			r.errs.add(r.file, line, path, "an array of tables (line %d) cannot take a dotted key", n.line)
			return
		case n.how == inlineTable:
			r.errs.add(r.file, line, path, "an inline table (line %d) cannot be extended", n.line)
			return
		case n.how != dottedTable:
			// Dotted keys may only add to tables that dotted keys made.
			r.errs.add(r.file, line, path, "table defined on line %d cannot be extended by a dotted key", n.line)
			return
		}
		t = n
	}
	last := keys[len(keys)-1]
	path = joinPath(path, last)
	if n, ok := t.keys[last]; ok {
		if n.kind == valueNode {
			r.errs.add(r.file, line, path, "defined twice (first on line %d)", n.line)
		} else {
			r.errs.add(r.file, line, path, "both a table (line %d) and a value (line %d)", n.line, line)
		}
		return
	}
	v := e.Value()
	if v.Kind == unstable.InlineTable {
		// An inline table is a table like any other, closed once written.
		n := newTable(inlineTable, line)
		t.add(last, n)
		it := v.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				r.keyValue(n, path, c)
			}
		}
		return
	}
	n := &tomlNode{kind: valueNode, line: line, value: v.Kind}
	if v.Kind == unstable.String || v.Kind == unstable.Bool {
		n.str = string(v.Data)
	}
	t.add(last, n)
}
