package report

import (
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"roamsettle/pkg/config"
)

// statement.html is report.txt for a browser: the same four reports as
// HTML tables, a chart of the ISP's usage per day and one of its net per
// counterpart. It is one self-contained page — no script, nothing it
// loads (no font, style sheet or image), the system's fonts — so it
// opens from the folder as it is and prints. It is written as it goes,
// like the other files: the detail table streams from detail.csv read
// back. Every text not ours is escaped; numbers are the CSVs' own text;
// chart geometry is integers (tenths of a pixel), never floating point,
// so the bytes are the same on every run and machine.

// The charts' colours (Okabe-Ito: told apart by colour-blind readers
// too). The browser test counts these exact colours in a screenshot.
const (
	colourLocal  = "#0072b2" // usage as local ISP
	colourHome   = "#e69f00" // usage as home ISP
	colourCredit = "#009e73" // a positive net
	colourDebit  = "#d55e00" // a negative net
)

const statementCSS = `:root{color-scheme:light}
body{margin:24px auto;max-width:960px;padding:0 16px;color:#1a1a1a;background:#fff;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
h1{font-size:1.45em;margin:0 0 .2em}
h2{font-size:1.15em;margin:1.8em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #bbb}
.meta{margin:0;color:#444}
.key{display:flex;flex-wrap:wrap;gap:.5em 2.5em;margin:1em 0}
.key dt{font-size:.85em;color:#555}
.key dd{margin:0;font-size:1.3em;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin:.5em 0 1em;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;text-align:left;border-bottom:1px solid #e0e0e0}
thead th{border-bottom:2px solid #777;background:#f3f3f3}
tfoot td{border-top:2px solid #777;border-bottom:0;font-weight:600}
td{white-space:nowrap}
td:first-child{white-space:normal}
.n2 :is(th,td):nth-child(n+2),.n3 :is(th,td):nth-child(n+3),.n5 :is(th,td):nth-child(n+5){text-align:right}
figure{margin:1em 0}
figcaption{font-weight:600;margin-bottom:.3em}
.note{font-size:.9em;color:#444}
svg.chart{display:block;width:100%;max-width:900px;height:auto}
svg text{font-size:11px;fill:#333}
svg .d{font-size:10px}
.g{stroke:#d8d8d8;stroke-width:1}
.ax{stroke:#555;stroke-width:1}
.we{fill:#f2f2f2}
.bl{fill:` + colourLocal + `}
.bh{fill:` + colourHome + `}
.np{fill:` + colourCredit + `}
.nn{fill:` + colourDebit + `}
.sw{vertical-align:-1px;margin:0 .3em 0 1em}
.sw:first-child{margin-left:0}
@page{margin:15mm}
@media print{
body{margin:0;max-width:none;padding:0;font-size:10pt}
h2{break-after:avoid}
table{font-size:8pt}
th,td{padding:2px 5px}
figure,tr{break-inside:avoid}
thead{display:table-header-group}
tfoot{display:table-row-group}
.detail{break-before:page}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
`

// htmlOut builds a page in a buffer it writes out in large pieces, so
// the file's hash sees few writes; the first write error is kept.
type htmlOut struct {
	w   io.Writer
	b   []byte
	err error
}

// raw appends markup as it is.
func (o *htmlOut) raw(s string) *htmlOut { o.b = append(o.b, s...); return o }

// text appends text that is not ours (user names, partner names, the
// operator's) as appendText does.
func (o *htmlOut) text(s string) *htmlOut { o.b = appendText(o.b, s); return o }

// plainText are the bytes appendText copies as they are: printable ASCII
// but & < > " '.
var plainText = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(`&<>"'`, rune(c))
	}
	return t
}()

// appendText appends s as HTML text, in one pass (it runs for every cell
// of every detail row): exactly
//
//	html.EscapeString(strings.ToValidUTF8(printable(s), "\uFFFD"))
//
// — & < > " ' escaped, a control byte '?' as in every report file, and
// each run of bytes that is not UTF-8 one U+FFFD (a stored user name can
// hold any bytes), so the page is valid HTML whatever it shows.
func appendText(b []byte, s string) []byte {
	start := 0 // s[start:i] needs nothing done
	for i := 0; i < len(s); {
		c := s[i]
		if plainText[c] {
			i++
			continue
		}
		var rep string
		switch {
		case c >= utf8.RuneSelf:
			if r, n := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || n > 1 {
				i += n
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			for i++; i < len(s); i++ {
				if r, n := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || n > 1 {
					break
				}
			}
			start = i
			continue
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '"':
			rep = "&#34;"
		case c == '\'':
			rep = "&#39;"
		default: // a control byte
			rep = "?"
		}
		b = append(b, s[start:i]...)
		b = append(b, rep...)
		i++
		start = i
	}
	return append(b, s[start:]...)
}

func (o *htmlOut) num(n int64) *htmlOut { o.b = strconv.AppendInt(o.b, n, 10); return o }

// px appends a length given in tenths of a pixel: "12.3", "-4.0".
func (o *htmlOut) px(tenths int64) *htmlOut {
	if tenths < 0 {
		o.b = append(o.b, '-')
		tenths = -tenths
	}
	o.b = strconv.AppendInt(o.b, tenths/10, 10)
	o.b = append(o.b, '.', byte('0'+tenths%10))
	return o
}

// nl ends a line of markup (verify names the first line that differs)
// and writes the buffer out once it is large.
func (o *htmlOut) nl() {
	o.b = append(o.b, '\n')
	if len(o.b) >= 32<<10 {
		o.flush()
	}
}

func (o *htmlOut) flush() error {
	if o.err == nil && len(o.b) > 0 {
		_, o.err = o.w.Write(o.b)
	}
	o.b = o.b[:0]
	return o.err
}

// table starts a table; class n<k> right-aligns the cells of columns k
// on (the numbers).
func (o *htmlOut) table(class string, head []string) {
	o.raw(`<table class="`).raw(class).raw(`"><thead><tr>`)
	for _, h := range head {
		o.raw(`<th scope="col">`).text(h).raw("</th>")
	}
	o.raw("</tr></thead>").nl()
	o.raw("<tbody>").nl()
}

func (o *htmlOut) row(cells []string) {
	o.raw("<tr>")
	for _, c := range cells {
		o.raw("<td>").text(c).raw("</td>")
	}
	o.raw("</tr>").nl()
}

// end ends a table with its total row.
func (o *htmlOut) end(total []string) {
	o.raw("</tbody>").nl()
	o.raw("<tfoot>")
	o.row(total)
	o.raw("</tfoot></table>").nl()
}

// writeStatement writes statement.html: the four reports of report.txt,
// the same figures, with the charts; the most condensed first and the
// detail, which can run to many thousands of rows, last.
func writeStatement(w io.Writer, b *builder, v *ispView, x *config.Partner, d *ispDetail) error {
	h := b.h
	o := &htmlOut{w: w, b: make([]byte, 0, 40<<10)}
	o.raw("<!DOCTYPE html>").nl()
	o.raw(`<html lang="en">`).nl()
	o.raw("<head>").nl()
	o.raw(`<meta charset="utf-8" />`).nl()
	o.raw(`<meta name="viewport" content="width=device-width, initial-scale=1" />`).nl()
	o.raw("<title>").text(x.ID).raw(" settlement statement ").text(h.Period).raw(" – ").text(h.Operator).raw("</title>").nl()
	o.raw("<style>").nl()
	o.raw(statementCSS).raw("</style>").nl()
	o.raw("</head>").nl()
	o.raw("<body>").nl()
	o.raw("<header>").nl()
	o.raw("<h1>Settlement statement for ").text(x.ID).raw(" (").text(x.Name).raw(", ").text(x.Country).raw(")</h1>").nl()
	o.raw(`<p class="meta">`).text(h.Operator).raw(" · period ").text(h.Period).raw(" (calendar month, by stop time UTC) · currency ").
		text(h.Currency).raw(" · revision ").num(h.Revision).raw("</p>").nl()

	cps := v.counterparts()
	var credit, debit int64
	for _, c := range cps {
		credit, debit = credit+v.credit[c], debit+v.debit[c]
	}
	o.raw(`<dl class="key">`).nl()
	for _, kv := range [][2]string{{"Sessions", itoa(v.totals.sessions)}, {"Billed minutes", minutes(v.totals.billed)},
		{"Credit", cents(credit)}, {"Debit", cents(debit)}, {"Net", cents(credit - debit)}} {
		o.raw("<div><dt>").raw(kv[0]).raw("</dt><dd>").raw(kv[1]).raw("</dd></div>").nl()
	}
	o.raw("</dl>").nl()
	o.raw("</header>").nl()

	o.raw("<section>").nl()
	o.raw("<h2>Usage per day</h2>").nl()
	o.raw(`<p class="note">`)
	o.raw(`<svg class="sw" width="11" height="11" aria-hidden="true"><rect class="bl" width="11" height="11" /></svg>as local ISP: other ISPs' users at `).text(x.ID)
	o.raw(`<svg class="sw" width="11" height="11" aria-hidden="true"><rect class="bh" width="11" height="11" /></svg>as home ISP: `).text(x.ID).raw("'s users at other ISPs")
	o.raw("</p>").nl()
	days := b.days[x.ID]
	o.dayChart(b, x, days, "sessions", "Sessions per day", "Sessions", 1)
	o.dayChart(b, x, days, "minutes", "Billed minutes per day", "Billed minutes", 60)
	o.raw("</section>").nl()

	o.raw("<section>").nl()
	o.raw("<h2>Credit/debit report: what ").text(x.ID).raw(" is owed (credit) and owes (debit)</h2>").nl()
	o.netChart(b, v, x, cps)
	o.table("n2", []string{"Counterpart", "Credit", "Debit", "Net"})
	for _, c := range cps {
		cr, db := v.credit[c], v.debit[c]
		o.row([]string{c, cents(cr), cents(db), cents(cr - db)})
	}
	o.end([]string{"Total", cents(credit), cents(debit), cents(credit - debit)})
	o.raw(`<p class="note">A positive net is owed to `).text(x.ID).raw(" by the settlement operator; a negative one ").text(x.ID).raw(" owes it.</p>").nl()
	o.raw("</section>").nl()

	o.raw("<section>").nl()
	o.raw("<h2>Invoice report: the summary in money, with the handling fees</h2>").nl()
	o.table("n3", []string{"Local", "Home", "Sessions", "Billed min", "Provider", "Consumer", "Fees"})
	var t agg
	for _, k := range v.pairs {
		a := b.pairs[k]
		t.plus(a)
		o.row([]string{k[0], k[1], itoa(a.sessions), minutes(a.billed), cents(a.provider), cents(a.consumer), cents(a.fees)})
	}
	o.end([]string{"Total", "", itoa(t.sessions), minutes(t.billed), cents(t.provider), cents(t.consumer), cents(t.fees)})
	o.raw("</section>").nl()

	o.raw("<section>").nl()
	o.raw("<h2>Summary report: usage per pair of ISPs</h2>").nl()
	o.table("n3", []string{"Local", "Home", "Sessions", "Seconds", "Billed min"})
	for _, k := range v.pairs {
		a := b.pairs[k]
		o.row([]string{k[0], k[1], itoa(a.sessions), itoa(a.seconds), minutes(a.billed)})
	}
	o.end([]string{"Total", "", itoa(t.sessions), itoa(t.seconds), minutes(t.billed)}) // t: the invoice's, the same pairs
	o.raw("</section>").nl()

	o.raw(`<section class="detail">`).nl()
	o.raw("<h2>Detail report: usage per user</h2>").nl()
	o.table("n5", textDetailHead)
	var cells [9]string
	err := eachDetail(d, func(rec []string) error {
		o.row(textDetail(&cells, rec))
		return o.err
	})
	if err != nil {
		return err
	}
	dt := d.totals
	o.end([]string{"Total", "", "", "", itoa(dt.sessions), itoa(dt.seconds), minutes(dt.billed), cents(dt.provider), cents(dt.consumer)})
	o.raw("</section>").nl()
	o.raw("</body>").nl()
	o.raw("</html>").nl()
	return o.flush()
}

// The day chart's box, in pixels: the plot and the margins for the
// axis labels.
const (
	dayW, dayH                               = 720, 230
	dayLeft, dayRight, dayTop, dayBottom     = 52, 10, 12, 40
	dayPlotW10, dayPlotH10                   = (dayW - dayLeft - dayRight) * 10, (dayH - dayTop - dayBottom) * 10
	dayBase10                                = (dayTop * 10) + dayPlotH10
	dayLeft10                                = dayLeft * 10
	netW, netRow, netTop, netBottom, netText = 720, 26, 6, 6, 110
)

// axis picks the gridlines of an axis for values up to max: a step of
// 1, 2 or 5 times a power of ten, at most 5 steps, and the axis's top.
func axis(max int64) (step, top int64) {
	if max <= 0 {
		return 1, 1
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if s := m * p; (max+s-1)/s <= 5 {
				return s, (max + s - 1) / s * s
			}
		}
	}
}

// dayChart draws one figure per day of the period (every day, a day with
// nothing a gap) as two bars, as local and as home ISP. div turns a
// figure into the axis's unit: 1 for sessions, 60 for billed seconds
// into minutes.
func (o *htmlOut) dayChart(b *builder, x *config.Partner, days *ispDays, id, title, unit string, div int64) {
	n := b.monthLen
	value := func(u *dayUse) int64 {
		if div == 1 {
			return u.sessions
		}
		return u.billed
	}
	var most int64
	for i := 0; i < n; i++ {
		most = max(most, value(&days.local[i]), value(&days.home[i]))
	}
	step, top := axis((most + div - 1) / div)
	denom := top * div
	height := func(v int64) int64 { return (v*dayPlotH10*2 + denom) / (2 * denom) } // rounded half up
	first, _ := time.Parse("2006-01", b.h.Period)

	o.raw("<figure>").nl()
	o.raw("<figcaption>").text(title).raw("</figcaption>").nl()
	o.raw(`<svg class="chart" viewBox="0 0 `).num(dayW).raw(" ").num(dayH).raw(`" width="`).num(dayW).raw(`" height="`).num(dayH).
		raw(`" role="img" aria-labelledby="chart-`).raw(id).raw(`">`).nl()
	o.raw(`<title id="chart-`).raw(id).raw(`">`).text(title).raw(" of ").text(x.ID).raw(", ").text(b.h.Period).raw(", as local and as home ISP</title>").nl()
	slot := int64(dayPlotW10 / n)
	bar := slot * 36 / 100
	pad := (slot - 2*bar) / 2
	for i := 0; i < n; i++ {
		if wd := first.AddDate(0, 0, i).Weekday(); wd == time.Saturday || wd == time.Sunday {
			o.raw(`<rect class="we" x="`).px(dayLeft10 + int64(i)*slot).raw(`" y="`).num(dayTop).raw(`" width="`).px(slot).raw(`" height="`).px(dayPlotH10).raw(`" />`).nl()
		}
	}
	for k := int64(0); k*step <= top; k++ {
		y := dayBase10 - k*step*dayPlotH10/top
		class := "g"
		if k == 0 {
			class = "ax"
		}
		o.raw(`<line class="`).raw(class).raw(`" x1="`).num(dayLeft).raw(`" x2="`).num(dayW - dayRight).raw(`" y1="`).px(y).raw(`" y2="`).px(y).raw(`" />`)
		o.raw(`<text x="`).num(dayLeft - 6).raw(`" y="`).px(y + 35).raw(`" text-anchor="end">`).num(k * step).raw("</text>").nl()
	}
	o.raw(`<line class="ax" x1="`).num(dayLeft).raw(`" x2="`).num(dayLeft).raw(`" y1="`).num(dayTop).raw(`" y2="`).px(dayBase10).raw(`" />`).nl()
	for i := 0; i < n; i++ {
		x0 := dayLeft10 + int64(i)*slot
		for j, u := range [2]*dayUse{&days.local[i], &days.home[i]} {
			v := value(u)
			if v == 0 {
				continue
			}
			hv := max(height(v), 5) // half a pixel at least: a day with something shows
			class, role := "bl", "local"
			if j == 1 {
				class, role = "bh", "home"
			}
			o.raw(`<rect class="`).raw(class).raw(`" x="`).px(x0 + pad + int64(j)*bar).raw(`" y="`).px(dayBase10 - hv).
				raw(`" width="`).px(bar).raw(`" height="`).px(hv).raw(`"><title>`).text(b.h.Period).raw("-")
			o.b = append(o.b, byte('0'+(i+1)/10), byte('0'+(i+1)%10))
			o.raw(": ")
			if div == 1 {
				o.num(v).raw(" session")
				if v != 1 {
					o.raw("s")
				}
			} else {
				o.raw(minutes(v)).raw(" billed minutes")
			}
			o.raw(" as ").raw(role).raw(" ISP</title></rect>").nl()
		}
		o.raw(`<text class="d" x="`).px(x0 + slot/2).raw(`" y="`).px(dayBase10 + 140).raw(`" text-anchor="middle">`).num(int64(i + 1)).raw("</text>").nl()
	}
	o.raw(`<text x="`).px(dayLeft10 + dayPlotW10/2).raw(`" y="`).num(dayH - 6).raw(`" text-anchor="middle">Day of `).text(first.Format("January 2006")).
		raw(" (UTC, by stop time; weekends shaded)</text>").nl()
	o.raw(`<text transform="rotate(-90)" x="`).px(-(dayTop*10 + dayPlotH10/2)).raw(`" y="14" text-anchor="middle">`).text(unit).raw("</text>").nl()
	o.raw("</svg>").nl()
	o.raw("</figure>").nl()
}

// netChart draws a bar per counterpart of the net (credit - debit), right
// of a zero line when owed to the ISP, left when it owes, each labelled
// with its amount.
func (o *htmlOut) netChart(b *builder, v *ispView, x *config.Partner, cps []string) {
	if len(cps) == 0 {
		o.raw(`<p class="note">No rated session with another ISP in `).text(b.h.Period).raw(".</p>").nl()
		return
	}
	var most int64
	for _, c := range cps {
		n := v.credit[c] - v.debit[c]
		most = max(most, n, -n)
	}
	h := netTop + len(cps)*netRow + netBottom
	zero := int64(netText+(netW-netText-10)/2) * 10
	longest := int64(2200) // tenths: leaves room for the amount beside the longest bar
	o.raw("<figure>").nl()
	o.raw("<figcaption>Net per counterpart, ").text(b.h.Currency).raw("</figcaption>").nl()
	o.raw(`<svg class="chart" viewBox="0 0 `).num(netW).raw(" ").num(int64(h)).raw(`" width="`).num(netW).raw(`" height="`).num(int64(h)).
		raw(`" role="img" aria-labelledby="chart-net">`).nl()
	o.raw(`<title id="chart-net">Net per counterpart of `).text(x.ID).raw(", ").text(b.h.Period).raw(", ").text(b.h.Currency).raw("</title>").nl()
	for i, c := range cps {
		cr, db := v.credit[c], v.debit[c]
		n := cr - db
		y := int64(netTop+i*netRow) * 10
		length := int64(0)
		if most > 0 {
			length = (abs(n)*longest*2 + most) / (2 * most)
		}
		if n != 0 {
			length = max(length, 10) // a pixel at least: the sign shows
		}
		o.raw(`<text x="`).num(netText - 8).raw(`" y="`).px(y + 175).raw(`" text-anchor="end">`).text(c).raw("</text>").nl()
		class, left, anchor, at := "np", zero, "start", zero+length+40
		if n < 0 {
			class, left, anchor, at = "nn", zero-length, "end", zero-length-40
		}
		if length > 0 {
			o.raw(`<rect class="`).raw(class).raw(`" x="`).px(left).raw(`" y="`).px(y + 50).raw(`" width="`).px(length).raw(`" height="16"><title>`).text(c)
			if p, ok := b.p.ByID(c); ok {
				o.raw(" (").text(p.Name).raw(", ").text(p.Country).raw(")")
			}
			o.raw(": credit ").raw(cents(cr)).raw(", debit ").raw(cents(db)).raw(", net ").raw(cents(n)).raw("</title></rect>").nl()
		}
		o.raw(`<text x="`).px(at).raw(`" y="`).px(y + 175).raw(`" text-anchor="`).raw(anchor).raw(`">`).raw(cents(n)).raw("</text>").nl()
	}
	o.raw(`<line class="ax" x1="`).px(zero).raw(`" x2="`).px(zero).raw(`" y1="`).num(netTop - 2).raw(`" y2="`).num(int64(h - netBottom + 2)).raw(`" />`).nl()
	o.raw("</svg>").nl()
	o.raw("</figure>").nl()
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
