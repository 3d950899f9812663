package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"roamsettle/pkg/money"
)

func FuzzParsePartners(f *testing.F) {
	f.Add([]byte(goodPartners))
	f.Add([]byte("id,name,country,realms,timezone\nX,\"a\"\"b\",C,r,UTC\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePartners(strings.NewReader(string(b)), "partners.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "partners.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, x := range p.List {
			if x.Timezone == nil || len(x.Realms) == 0 {
				t.Fatalf("accepted an incomplete partner %+v", x)
			}
		}
	})
}

func FuzzParseTariffs(f *testing.F) {
	f.Add([]byte(goodTariffs))
	f.Add([]byte("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,Fri,23:00-01:00,1,1,1,0\n"))
	p, err := ParsePartners(strings.NewReader(goodPartners), "partners.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseTariffs(strings.NewReader(string(b)), "tariffs.csv", p)
		if err != nil {
			if !strings.Contains(err.Error(), "tariffs.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, x := range ts.List {
			if x.Increment <= 0 || x.Minimum < 0 {
				t.Fatalf("accepted a bad row %+v", x)
			}
		}
	})
}

// FuzzReadTOML checks the one-pass reader against go-toml's own decoder:
// both accept or both refuse a document, and what was accepted holds the
// same keys and values. Every mistake names a line. One difference is
// allowed: the reader neither range-checks numbers and dates nor looks
// into arrays, since roam.toml refuses every value that is not a string or
// a boolean anyway (with its line).
func FuzzReadTOML(f *testing.F) {
	f.Add([]byte(goodTOML))
	f.Add([]byte("a.b = \"x\"\n[a.c]\nd = { e.f = true }\n[[g]]\n[g.h]\n[[g]]\n"))
	f.Add([]byte("[fruit]\napple.color = \"red\"\n[fruit.apple]\n"))
	f.Add([]byte("[a.b.c]\nz = 9\n[a]\nb.c.t = 9\n"))
	f.Add([]byte("x = 2021-13-45\n"))
	// TOML's rules on where things may be defined, from the spec's examples.
	for _, doc := range []string{
		"[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n",
		"[x.y.z.w]\n[x]\n",
		"[a]\n[a]\n",
		"[a]\nb = 1\n[a.b]\n",
		"[a.b]\n[a]\nb.c = 1\n",
		"[[a]]\n[a.b]\nc = 1\n[[a]]\n[a.b]\nc = 2\n",
		"[[a]]\n[a]\n",
		"[a]\n[[a]]\n",
		"a = [1]\n[[a]]\n",
		"a = { b = 1 }\na.c = 2\n",
		"a = { b = 1 }\n[a.c]\n",
		"a.b = 1\na.b.c = 2\n",
		"a.b.c = 1\n[a.b]\n",
		"a = { b.c = 1, b.d = 2 }\n",
		"a = { b = { c = 1 }, b.d = 2 }\n",
		"'a.b' = 1\n\"a\".b = 2\n",
		"[[a.b]]\n[a]\nc = 1\n",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root, errs := readTOML("roam.toml", b)
		lines := bytes.Count(b, []byte("\n")) + 1
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("error without a line in the file (1..%d): %v", lines, e)
			}
		}
		var m map[string]any
		theirs := toml.Unmarshal(b, &m)
		switch {
		case len(errs) > 0 && theirs == nil:
			t.Fatalf("refused a document go-toml accepts: %v", errs)
		case len(errs) == 0 && theirs != nil:
			if !hasOtherValue(root) {
				t.Fatalf("accepted a document go-toml refuses (%v)", theirs)
			}
		case len(errs) == 0:
			if err := sameTree(root, m, ""); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// hasOtherValue reports whether the tree holds a value that is neither a
// string nor a boolean.
func hasOtherValue(n *tomlNode) bool {
	switch n.kind {
	case valueNode:
		return n.value != unstable.String && n.value != unstable.Bool
	case arrayTableNode:
		for _, el := range n.elems {
			if hasOtherValue(el) {
				return true
			}
		}
		return false
	}
	for _, c := range n.keys {
		if hasOtherValue(c) {
			return true
		}
	}
	return false
}

// sameTree compares the reader's tree with what go-toml decoded.
func sameTree(n *tomlNode, v any, path string) error {
	switch n.kind {
	case tableNode:
		m, ok := v.(map[string]any)
		if !ok || len(m) != len(n.keys) || len(n.order) != len(n.keys) {
			return fmt.Errorf("%s: table with keys %v, go-toml has %#v", path, n.order, v)
		}
		for k, c := range n.keys {
			if err := sameTree(c, m[k], joinPath(path, k)); err != nil {
				return err
			}
		}
		return nil
	case arrayTableNode:
		arr := reflect.ValueOf(v)
		if arr.Kind() != reflect.Slice || arr.Len() != len(n.elems) {
			return fmt.Errorf("%s: %d tables, go-toml has %#v", path, len(n.elems), v)
		}
		for i, el := range n.elems {
			if err := sameTree(el, arr.Index(i).Interface(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	switch n.value {
	case unstable.String:
		if s, ok := v.(string); !ok || s != n.str {
			return fmt.Errorf("%s: string %q, go-toml has %#v", path, n.str, v)
		}
	case unstable.Bool:
		if b, ok := v.(bool); !ok || strconv.FormatBool(b) != n.str {
			return fmt.Errorf("%s: bool %s, go-toml has %#v", path, n.str, v)
		}
	case unstable.Array:
		if reflect.ValueOf(v).Kind() != reflect.Slice {
			return fmt.Errorf("%s: array, go-toml has %#v", path, v)
		}
	default:
		switch v.(type) {
		case string, bool, map[string]any, []any, nil:
			return fmt.Errorf("%s: %s, go-toml has %#v", path, n.typeName(), v)
		}
	}
	return nil
}

// FuzzLoadTOML: no panic, and every mistake that concerns a key written in
// the file names its line; a line 0 is only for a default that failed
// (a key the file does not have).
func FuzzLoadTOML(f *testing.F) {
	f.Add([]byte(goodTOML))
	f.Add([]byte("[edge]\nisp = \"X\"\n[[edge.nas]]\nname = 1\n"))
	f.Add([]byte("edge = { isp = \"ISPB\", listen = \":70000\" }\nsettlement.a.b = \"x\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "roam.toml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, false, nil, NeedEdge|NeedCentral)
		if err == nil {
			return
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("not config.Errors: %T %v", err, err)
		}
		var m map[string]any
		decoded := toml.Unmarshal(b, &m) == nil
		lines := bytes.Count(b, []byte("\n")) + 1
		for _, e := range es {
			if e.File != p {
				t.Fatalf("error does not name the file: %v", e)
			}
			if e.Line > lines {
				t.Fatalf("line beyond the file (%d lines): %v", lines, e)
			}
			if e.Line > 0 || !decoded {
				continue
			}
			if e.Field == "" {
				t.Fatalf("an error about the whole file without a line: %v", e)
			}
			if inFile(t, m, e.Field) {
				t.Fatalf("the key is in the file, the error has no line: %v", e)
			}
		}
	})
}

// inFile reports whether a field such as edge.nas[1]."a.b" names a key of
// the decoded document.
func inFile(t *testing.T, m map[string]any, field string) bool {
	var cur any = m
	for field != "" {
		var key string
		if field[0] == '"' {
			q, err := strconv.QuotedPrefix(field)
			if err != nil {
				t.Fatalf("field %q: %v", field, err)
			}
			key, _ = strconv.Unquote(q)
			field = field[len(q):]
		} else {
			i := strings.IndexAny(field, ".[")
			if i < 0 {
				i = len(field)
			}
			key, field = field[:i], field[i:]
		}
		mm, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = mm[key]; !ok {
			return false
		}
		for strings.HasPrefix(field, "[") {
			end := strings.IndexByte(field, ']')
			i, err := strconv.Atoi(field[1:end])
			if err != nil {
				t.Fatalf("field index %q: %v", field, err)
			}
			arr := reflect.ValueOf(cur)
			if arr.Kind() != reflect.Slice || i >= arr.Len() {
				return false
			}
			cur, field = arr.Index(i).Interface(), field[end+1:]
		}
		field = strings.TrimPrefix(field, ".")
	}
	return true
}

// FuzzConfigRoundTrip writes a roam.toml from random values in one of
// several equivalent TOML forms (tables, dotted keys, inline tables, quoted
// keys, basic or literal strings) and loads it back: valid values come
// back unchanged; each invalid one is reported on the exact line it was
// written, and nothing else is.
func FuzzConfigRoundTrip(f *testing.F) {
	f.Add("Roam Clearing", "ISPB", uint16(1813), uint32(6*3600), uint32(10000), uint32(0xc000020a), "nas1", "s3cret", uint8(0))
	f.Add("Ünïcode \"op\"\t\\", "ISP_9", uint16(65535), uint32(1), uint32(0), uint32(0), "a.b-c_d", "'\n", uint8(0xff))
	f.Add("", "bad id", uint16(0), uint32(0), uint32(4294967295), uint32(1), "fixed0", "", uint8(0x2a))
	f.Fuzz(func(t *testing.T, operator, isp string, port uint16, stale, fee, addr uint32, nasName, secret string, layout uint8) {
		for _, s := range []string{operator, isp, nasName, secret} {
			if !utf8.ValidString(s) {
				t.Skip("TOML text is UTF-8")
			}
		}
		host := []string{"127.0.0.1", "[::1]", "", "localhost"}[layout&3]
		listen := fmt.Sprintf("%s:%d", host, port)
		staleAfter := fmt.Sprintf("%ds", stale)
		feeText := money.Micro(fee).String()
		address := netip.AddrFrom4([4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)})

		w := &tomlWriter{layout: layout, lines: map[string]int{}}
		set := [][2]string{{"operator", operator}, {"fee_per_session", feeText}}
		ed := [][2]string{{"isp", isp}, {"listen", listen}, {"stale_after", staleAfter}}
		// Forms written at the top level must come before any [header].
		settlementForm, edgeForm := (layout>>2)%3, (layout>>4)%2
		if settlementForm == 1 {
			w.dotted("settlement", set)
		}
		if settlementForm == 2 {
			w.inline("settlement", set)
		}
		if edgeForm == 1 {
			w.dotted("edge", ed)
		}
		if settlementForm == 0 {
			w.table("settlement", set)
		}
		if edgeForm == 0 {
			w.table("edge", ed)
		}
		w.arrayTable("edge.nas[0]", [][2]string{{"name", "fixed0"}, {"address", "::1"}, {"secret", "x"}})
		w.arrayTable("edge.nas[1]", [][2]string{{"name", nasName}, {"address", address.String()}, {"secret", secret}})

		dir := t.TempDir()
		p := filepath.Join(dir, "roam.toml")
		if err := os.WriteFile(p, []byte(w.b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		var want []string // "line field" of each expected mistake
		bad := func(ok bool, field string) {
			if !ok {
				want = append(want, fmt.Sprintf("%d %s", w.lines[field], field))
			}
		}
		bad(idRe.MatchString(isp), "edge.isp")
		bad(port != 0, "edge.listen")
		bad(stale != 0, "edge.stale_after")
		bad(nasNameRe.MatchString(nasName) && nasName != "fixed0", "edge.nas[1].name")
		bad(secret != "", "edge.nas[1].secret")

		cfg, err := Load(p, false, nil, NeedEdge|NeedCentral)
		var got []string
		var es Errors
		if errors.As(err, &es) {
			for _, e := range es {
				got = append(got, fmt.Sprintf("%d %s", e.Line, e.Field))
			}
		} else if err != nil {
			t.Fatalf("not config.Errors: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("file:\n%s\nwant mistakes %q, got %q:\n%v", w.b.String(), want, got, err)
		}
		if err != nil {
			return
		}
		n := cfg.Edge.NAS[1]
		if cfg.Settlement.Operator != operator || cfg.Settlement.FeePerSession != money.Micro(fee) ||
			cfg.Edge.ISP != isp || cfg.Edge.Listen != listen || cfg.Edge.StaleAfter != time.Duration(stale)*time.Second ||
			n.Name != nasName || n.Address != address || string(n.Secret) != secret {
			t.Fatalf("file:\n%s\nloaded back %+v %+v", w.b.String(), cfg.Settlement, cfg.Edge)
		}
	})
}

// tomlWriter writes roam.toml text in the form layout asks for and
// remembers the line of every field.
type tomlWriter struct {
	b      strings.Builder
	line   int
	layout uint8
	lines  map[string]int
}

func (w *tomlWriter) println(s string) {
	w.b.WriteString(s + "\n")
	w.line++
}

// key writes a key bare or quoted.
func (w *tomlWriter) key(k string) string {
	if w.layout&0x40 != 0 {
		return `"` + k + `"`
	}
	return k
}

// str writes a TOML string: literal when it can and layout asks, else basic
// with escapes.
func (w *tomlWriter) str(s string) string {
	if w.layout&0x80 != 0 && !strings.ContainsFunc(s, func(r rune) bool { return r == '\'' || r < 0x20 || r == 0x7f }) {
		return "'" + s + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (w *tomlWriter) table(name string, kv [][2]string) {
	w.println("[" + name + "]")
	for _, p := range kv {
		w.println(w.key(p[0]) + " = " + w.str(p[1]))
		w.lines[name+"."+p[0]] = w.line
	}
}

func (w *tomlWriter) arrayTable(field string, kv [][2]string) {
	w.println("[[edge.nas]]")
	for _, p := range kv {
		w.println(w.key(p[0]) + " = " + w.str(p[1]))
		w.lines[field+"."+p[0]] = w.line
	}
}

func (w *tomlWriter) dotted(name string, kv [][2]string) {
	for _, p := range kv {
		w.println(name + "." + w.key(p[0]) + " = " + w.str(p[1]))
		w.lines[name+"."+p[0]] = w.line
	}
}

func (w *tomlWriter) inline(name string, kv [][2]string) {
	var parts []string
	for _, p := range kv {
		parts = append(parts, w.key(p[0])+" = "+w.str(p[1]))
		w.lines[name+"."+p[0]] = w.line + 1
	}
	w.println(name + " = { " + strings.Join(parts, ", ") + " }")
}
