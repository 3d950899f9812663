package report

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"roamsettle/pkg/config"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// writeSummary writes summary.csv: per pair of ISPs the ISP is one of.
func writeSummary(w io.Writer, b *builder, v *ispView) error {
	io.WriteString(w, "local_isp,home_isp,sessions,seconds,billed_seconds,billed_minutes\n")
	for _, k := range v.pairs {
		a := b.pairs[k]
		if err := writeCSV(w, []string{k[0], k[1], itoa(a.sessions), itoa(a.seconds), itoa(a.billed), minutes(a.billed)}); err != nil {
			return err
		}
	}
	return nil
}

// writeInvoice writes invoice.csv: the summary in money, with the
// operator's handling fees, and a TOTAL row.
func writeInvoice(w io.Writer, b *builder, v *ispView) error {
	io.WriteString(w, "local_isp,home_isp,sessions,billed_minutes,provider,consumer,fees\n")
	var t agg
	for _, k := range v.pairs {
		a := b.pairs[k]
		t.sessions += a.sessions
		t.billed += a.billed
		t.provider += a.provider
		t.consumer += a.consumer
		t.fees += a.fees
		if err := writeCSV(w, []string{k[0], k[1], itoa(a.sessions), minutes(a.billed), cents(a.provider), cents(a.consumer), cents(a.fees)}); err != nil {
			return err
		}
	}
	return writeCSV(w, []string{"TOTAL", "", itoa(t.sessions), minutes(t.billed), cents(t.provider), cents(t.consumer), cents(t.fees)})
}

// writeCreditDebit writes creditdebit.csv: per counterpart (in id order)
// what the ISP is owed as local ISP (credit) and owes as home ISP with the
// fees on those sessions (debit), then a TOTAL row.
func writeCreditDebit(w io.Writer, v *ispView, id string) error {
	io.WriteString(w, "isp,counterpart,credit,debit,net\n")
	var credit, debit int64
	for _, c := range v.counterparts() {
		cr, db := v.credit[c], v.debit[c]
		credit += cr
		debit += db
		if err := writeCSV(w, []string{id, c, cents(cr), cents(db), cents(cr - db)}); err != nil {
			return err
		}
	}
	return writeCSV(w, []string{id, "TOTAL", cents(credit), cents(debit), cents(credit - debit)})
}

// layout lays out a table: text left, numbers right, each column as wide
// as its widest cell (fit every row, then write).
type layout struct {
	head  []string
	right []bool
	width []int
	b     []byte
}

func newLayout(head []string, right []bool) *layout {
	t := &layout{head: head, right: right, width: make([]int, len(head))}
	t.fit(head)
	return t
}

func (t *layout) fit(r []string) {
	for i, c := range r {
		t.width[i] = max(t.width[i], len(c))
	}
}

// start writes the head and the rule under it.
func (t *layout) start(w io.Writer) {
	t.row(w, t.head)
	rule := make([]string, len(t.head))
	for i := range rule {
		rule[i] = strings.Repeat("-", t.width[i])
	}
	t.row(w, rule)
}

func (t *layout) row(w io.Writer, r []string) {
	b := t.b[:0]
	for i, c := range r {
		if i > 0 {
			b = append(b, ' ', ' ')
		}
		pad := t.width[i] - len(c)
		if t.right[i] {
			b = appendSpaces(b, pad)
			b = append(b, c...)
		} else {
			b = append(b, c...)
			b = appendSpaces(b, pad)
		}
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	b = append(b, '\n')
	w.Write(b)
	t.b = b
}

// table writes rows as an aligned table.
func table(w io.Writer, head []string, right []bool, rows [][]string) {
	t := newLayout(head, right)
	for _, r := range rows {
		t.fit(r)
	}
	t.start(w)
	for _, r := range rows {
		t.row(w, r)
	}
}

func appendSpaces(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
}

// writeText writes report.txt: the four reports laid out for people, as
// the patent's figures 8 to 11.
func writeText(w io.Writer, b *builder, v *ispView, x *config.Partner, d *ispDetail) error {
	h := b.h
	fmt.Fprintf(w, "%s: settlement reports for %s (%s, %s)\n", h.Operator, x.ID, x.Name, x.Country)
	fmt.Fprintf(w, "Period %s (calendar month, by stop time UTC)   Currency %s   Revision %d\n\n", h.Period, h.Currency, h.Revision)

	io.WriteString(w, "DETAIL REPORT: usage per user\n\n")
	if err := writeTextDetail(w, d); err != nil {
		return err
	}

	var rows [][]string
	var t agg
	io.WriteString(w, "\nSUMMARY REPORT: usage per pair of ISPs\n\n")
	for _, k := range v.pairs {
		a := b.pairs[k]
		t.sessions, t.seconds, t.billed = t.sessions+a.sessions, t.seconds+a.seconds, t.billed+a.billed
		rows = append(rows, []string{k[0], k[1], itoa(a.sessions), itoa(a.seconds), minutes(a.billed)})
	}
	rows = append(rows, []string{"Total", "", itoa(t.sessions), itoa(t.seconds), minutes(t.billed)})
	table(w, []string{"Local", "Home", "Sessions", "Seconds", "Billed min"}, []bool{false, false, true, true, true}, rows)

	io.WriteString(w, "\nINVOICE REPORT: the summary in money, with the handling fees\n\n")
	rows = nil
	t = agg{}
	for _, k := range v.pairs {
		a := b.pairs[k]
		t.sessions, t.billed, t.provider, t.consumer, t.fees = t.sessions+a.sessions, t.billed+a.billed, t.provider+a.provider, t.consumer+a.consumer, t.fees+a.fees
		rows = append(rows, []string{k[0], k[1], itoa(a.sessions), minutes(a.billed), cents(a.provider), cents(a.consumer), cents(a.fees)})
	}
	rows = append(rows, []string{"Total", "", itoa(t.sessions), minutes(t.billed), cents(t.provider), cents(t.consumer), cents(t.fees)})
	table(w, []string{"Local", "Home", "Sessions", "Billed min", "Provider", "Consumer", "Fees"},
		[]bool{false, false, true, true, true, true, true}, rows)

	io.WriteString(w, "\nCREDIT/DEBIT REPORT: what "+x.ID+" is owed (credit) and owes (debit)\n\n")
	rows = nil
	var credit, debit int64
	for _, c := range v.counterparts() {
		cr, db := v.credit[c], v.debit[c]
		credit, debit = credit+cr, debit+db
		rows = append(rows, []string{c, cents(cr), cents(db), cents(cr - db)})
	}
	rows = append(rows, []string{"Total", cents(credit), cents(debit), cents(credit - debit)})
	table(w, []string{"Counterpart", "Credit", "Debit", "Net"}, []bool{false, true, true, true}, rows)
	_, err := fmt.Fprintf(w, "\nA positive net is owed to %s by the settlement operator; a negative one %s owes it.\n", x.ID, x.ID)
	return err
}

// writeTextDetail lays out the ISP's detail.csv, read back (so the two
// cannot differ), as report.txt's detail table with a total row.
func writeTextDetail(w io.Writer, d *ispDetail) error {
	t := d.totals
	total := []string{"Total", "", "", "", itoa(t.sessions), itoa(t.seconds), minutes(t.billed), cents(t.provider), cents(t.consumer)}
	d.layout.fit(total)
	d.layout.start(w)
	var cells [9]string
	err := eachDetail(d, func(rec []string) error {
		d.layout.row(w, textDetail(&cells, rec))
		return nil
	})
	if err != nil {
		return err
	}
	d.layout.row(w, total)
	return nil
}

// eachDetail calls row with every row of the ISP's detail.csv (header
// left out), read back from the file: what people read is what the CSV
// says. rec is reused between calls.
func eachDetail(d *ispDetail, row func(rec []string) error) error {
	if err := d.f.w.Flush(); err != nil {
		return err
	}
	f, err := os.Open(d.f.f.Name())
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 64<<10))
	r.FieldsPerRecord = len(detailHead)
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil { // the header
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		if err := row(rec); err != nil {
			return err
		}
	}
}

// ManifestHeader is the first line of a report MANIFEST.
const ManifestHeader = "#roamreport 1"

// writeManifest writes a folder's MANIFEST, last: the SHA-256 and size of
// each file and the control totals of the sessions the folder covers.
func (b *builder) writeManifest(dir string) error {
	var t agg
	if dir == OperatorDir {
		t = b.total
	} else {
		t = b.view(dir).totals
	}
	return writeQuick(b.path(dir, "MANIFEST"), 0o644, func(w io.Writer) error {
		fmt.Fprintf(w, "%s\nfolder %s\nperiod %s\nrevision %d\ncurrency %s\n", ManifestHeader, dir, b.h.Period, b.h.Revision, b.h.Currency)
		fmt.Fprintf(w, "sessions %d\nseconds %d\nbilled_seconds %d\nprovider %s\nconsumer %s\nfees %s\n",
			t.sessions, t.seconds, t.billed, cents(t.provider), cents(t.consumer), cents(t.fees))
		if dir == OperatorDir {
			fmt.Fprintf(w, "exceptions %d\n", b.exceptN)
		}
		for _, f := range b.built[dir] {
			fmt.Fprintf(w, "file %s %d %s\n", f.sha256, f.size, f.name)
		}
		_, err := io.WriteString(w, "end\n")
		return err
	})
}

func (b *builder) path(dir, name string) string { return b.root + "/" + dir + "/" + name }

// writeQuick writes a file of a folder being built (closeAll makes it
// durable with the rest).
func writeQuick(path string, perm os.FileMode, fill func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
