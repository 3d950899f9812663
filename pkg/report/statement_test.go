package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// node is an element of a statement, as a strict XML parser reads it:
// statement.html is written so that it parses as XML too (void elements
// closed), which makes every tag it opens and closes checkable here.
type node struct {
	name string
	attr map[string]string
	text string // the text directly inside
	kids []*node
}

func parseStatement(t *testing.T, page []byte) *node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	root := &node{name: "#document"}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("statement.html is not well formed: %v", err)
		}
		top := stack[len(stack)-1]
		switch x := tok.(type) {
		case xml.StartElement:
			n := &node{name: x.Name.Local, attr: map[string]string{}}
			for _, a := range x.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.text += string(x)
		}
	}
	return root
}

// all returns the elements under n named name, in document order.
func (n *node) all(name string) []*node {
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
		out = append(out, k.all(name)...)
	}
	return out
}

// checkSelfContained fails on anything a statement could load or run:
// only the elements it is made of, no event handler or link attribute,
// no URL at all.
func checkSelfContained(t *testing.T, page []byte, doc *node) {
	t.Helper()
	allowed := map[string]bool{}
	for _, e := range strings.Fields("html head meta title style body header h1 h2 p dl div dt dd section figure figcaption svg rect line text table thead tbody tfoot tr th td") {
		allowed[e] = true
	}
	var walk func(n *node)
	walk = func(n *node) {
		for _, k := range n.kids {
			if !allowed[k.name] {
				t.Errorf("element <%s> in statement.html", k.name)
			}
			for a := range k.attr {
				if strings.HasPrefix(a, "on") || a == "href" || a == "src" || a == "style" {
					t.Errorf("attribute %s on <%s>", a, k.name)
				}
			}
			walk(k)
		}
	}
	walk(doc)
	for _, s := range []string{"://", "url(", "@import", "<script", "<link", "@font-face"} {
		if bytes.Contains(bytes.ToLower(page), []byte(s)) {
			t.Errorf("statement.html contains %q", s)
		}
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n")) {
		t.Errorf("statement.html does not start with the doctype, lang and charset:\n%.200s", page)
	}
	if n := len(doc.all("style")); n != 1 {
		t.Errorf("%d <style> elements", n)
	}
}

// TestStatementEscapes: hostile user names reach the page as text, never
// as markup: no <script>, and the parsed cell is the name itself.
func TestStatementEscapes(t *testing.T) {
	hostile := []string{`<script>alert(1)</script>@aimnet.com`, `o'hara&"co"<b>@aimnet.com`, "bad\xffbyte@eunet.de"}
	w := newWorld(t, testTariffsCSV)
	for i, u := range hostile {
		w.put(sess{"ISPB", u, utc("2026-10-05T10:00:00Z").Add(time.Duration(i) * time.Hour), 100})
	}
	if _, logs, err := w.report("2026-10", false); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	page, err := os.ReadFile(w.path("2026-10", "ISPB", "statement.html"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ToLower(page), []byte("<script")) {
		t.Error("<script in statement.html")
	}
	if !bytes.Contains(page, []byte("<td>&lt;script&gt;alert(1)&lt;/script&gt;@aimnet.com</td>")) ||
		!bytes.Contains(page, []byte("<td>o&#39;hara&amp;&#34;co&#34;&lt;b&gt;@aimnet.com</td>")) {
		t.Error("the hostile names are not in statement.html, escaped")
	}
	doc := parseStatement(t, page)
	checkSelfContained(t, page, doc)
	cells := map[string]bool{}
	for _, td := range doc.all("td") {
		cells[td.text] = true
	}
	for _, u := range hostile {
		want := strings.ToValidUTF8(u, "\uFFFD")
		if !cells[want] {
			t.Errorf("no detail cell reads %q", want)
		}
	}
}

// TestStatementFigures: over a random month, the page is well formed
// and self-contained, its chart shows every day of the month, and the
// sessions its bars stand for add up to the ISP's summary.csv, as local
// and as home ISP.
func TestStatementFigures(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := newWorld(t, "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0300,0.0500,60,0\n")
	w.put(randomSessions(rng, 300)...)
	if _, logs, err := w.report("2026-10", false); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	for _, id := range []string{"ISPA", "ISPB", "ISPC"} {
		page, err := os.ReadFile(w.path("2026-10", id, "statement.html"))
		if err != nil {
			t.Fatal(err)
		}
		doc := parseStatement(t, page)
		checkSelfContained(t, page, doc)
		want := map[string]int64{}
		for _, r := range readCSV(t, w.path("2026-10", id, "summary.csv")) {
			n, _ := strconv.ParseInt(r[2], 10, 64)
			if r[0] == id {
				want["local"] += n
			}
			if r[1] == id {
				want["home"] += n
			}
		}
		got := map[string]int64{}
		var chart *node
		for _, svg := range doc.all("svg") {
			if svg.attr["aria-labelledby"] == "chart-sessions" {
				chart = svg
			}
		}
		if chart == nil {
			t.Fatalf("%s: no sessions chart", id)
		}
		days := 0
		for _, x := range chart.all("text") {
			if x.attr["class"] == "d" {
				days++
				if x.text != strconv.Itoa(days) {
					t.Errorf("%s: day label %q, want %d", id, x.text, days)
				}
			}
		}
		if days != 31 {
			t.Errorf("%s: %d days on the chart, want 31", id, days)
		}
		for _, r := range chart.all("rect") {
			if c := r.attr["class"]; c == "bl" || c == "bh" {
				// "2026-10-06: 3 sessions as local ISP"
				f := strings.Fields(r.all("title")[0].text)
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil || len(f) != 6 || f[4] != map[string]string{"bl": "local", "bh": "home"}[c] {
					t.Fatalf("%s: bar title %q", id, r.all("title")[0].text)
				}
				got[f[4]] += n
			}
		}
		if got["local"] != want["local"] || got["home"] != want["home"] || want["local"] == 0 || want["home"] == 0 {
			t.Errorf("%s: the chart's bars add up to %v sessions, summary.csv says %v", id, got, want)
		}
	}
}

// An ISP with no session in the period still gets its page: the month's
// days on an empty chart, no net chart, the tables with their totals.
func TestStatementEmpty(t *testing.T) {
	w := newWorld(t, testTariffsCSV)
	w.put(goldenSessions[0])
	if _, logs, err := w.report("2026-10", false); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	page, err := os.ReadFile(w.path("2026-10", "ISPC", "statement.html"))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseStatement(t, page)
	checkSelfContained(t, page, doc)
	if n := len(doc.all("svg")); n != 4 { // the two day charts and the legend's two swatches
		t.Errorf("%d svg elements, want 4", n)
	}
	for _, want := range []string{"No rated session with another ISP in 2026-10.", `>31</text>`, "<tfoot><tr><td>Total</td><td>0.00</td><td>0.00</td><td>0.00</td></tr>"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("no %q in the page", want)
		}
	}
	if bytes.Contains(page, []byte(`class="bl" x=`)) || bytes.Contains(page, []byte(`class="bh" x=`)) {
		t.Error("bars on the chart of an ISP with no session")
	}
}

// The builder knows the length of the period's month, and refuses a line
// that stops outside it.
func TestStatementDays(t *testing.T) {
	w := newWorld(t, testTariffsCSV)
	root := filepath.Join(t.TempDir(), "r")
	b, err := newBuilder(root, w.s.Partners, Header{Period: "2028-02"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.abort()
	if b.monthLen != 29 {
		t.Errorf("February 2028 has %d days", b.monthLen)
	}
	for stop, ok := range map[string]bool{"2028-02-29T23:59:59.000000000Z": true, "2028-02-01T00:00:00.000000000Z": true,
		"2028-03-01T00:00:00.000000000Z": false, "2028-02-30T00:00:00.000000000Z": false, "2028-02-00T00:00:00.000000000Z": false} {
		if _, err := b.day(&Line{SessionKey: "k", StopUTC: stop}); (err == nil) != ok {
			t.Errorf("stop %s: %v", stop, err)
		}
	}
}

// appendText is html.EscapeString of the text made printable and valid
// UTF-8, in one pass.
func FuzzAppendText(f *testing.F) {
	for _, s := range []string{"", "alice@aimnet.com", `<script>alert(1)</script>@isp.net`, `o'hara&"co"`, "tab\there\x7f",
		"bad\xff\xfebytes", "\xe2\x82", "ok \u20ac and \xed\xa0\x80 (a surrogate)", "\xff\x01\xff", "end\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := html.EscapeString(strings.ToValidUTF8(printable(s), "\uFFFD"))
		if got := string(appendText([]byte("x"), s)); got != "x"+want {
			t.Errorf("appendText(%q) = %q, want %q", s, got[1:], want)
		}
	})
}

// BenchmarkISPFiles times report.txt and statement.html of one ISP of the
// bench/report.sh size (40,000 detail rows, 50 counterparts), written to
// io.Discard: what each costs beyond the detail.csv both read back.
func BenchmarkISPFiles(b *testing.B) {
	w := newWorld(b, testTariffsCSV)
	bd, err := newBuilder(filepath.Join(b.TempDir(), "r"), w.s.Partners, Header{Operator: "Roam Clearing", Currency: "USD", Period: "2026-10", Revision: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer bd.abort()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 40000; i++ {
		local := []string{"ISPA", "ISPB", "ISPC"}[rng.IntN(3)]
		l := &Line{SessionKey: "k", Local: local, Home: "ISPA", UserName: fmt.Sprintf("user%06d@aimnet.com", i),
			StopUTC: fmt.Sprintf("2026-10-%02dT10:00:00.000000000Z", 1+rng.IntN(31)), StopLocal: "2026-10-01T10:00:00.000000000-07:00",
			Duration: rng.Int64N(7200), Billed: rng.Int64N(7200), Provider: rng.Int64N(500), Consumer: rng.Int64N(900), Fee: 3, TariffLine: 1}
		if err := bd.add(l); err != nil {
			b.Fatal(err)
		}
	}
	details, err := bd.writeDetails()
	if err != nil {
		b.Fatal(err)
	}
	x, _ := w.s.Partners.ByID("ISPA")
	v, d := bd.view("ISPA"), details["ISPA"]
	b.Run("report.txt", func(b *testing.B) {
		for b.Loop() {
			if err := writeText(io.Discard, bd, v, x, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("statement.html", func(b *testing.B) {
		for b.Loop() {
			if err := writeStatement(io.Discard, bd, v, x, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
