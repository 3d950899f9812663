package report

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
)

// OperatorDir is the folder of the operator's own files in a period (no
// partner may have it as its id).
const OperatorDir = config.OperatorDir

// Header is what every report's header says.
type Header struct {
	Operator, Currency string
	Period             string
	Revision           int64
}

// agg sums sessions.
type agg struct {
	sessions, seconds, billed, provider, consumer, fees int64
}

func (a *agg) add(l *Line) {
	a.sessions++
	a.seconds += l.Duration
	a.billed += l.Billed
	a.provider += l.Provider
	a.consumer += l.Consumer
	a.fees += l.Fee
}

func (a *agg) plus(b *agg) {
	a.sessions += b.sessions
	a.seconds += b.seconds
	a.billed += b.billed
	a.provider += b.provider
	a.consumer += b.consumer
	a.fees += b.fees
}

type detailKey struct{ user, home, local string }

// file is one report file being written, hashed as it goes.
type file struct {
	f    *os.File
	w    *bufio.Writer
	h    hash.Hash
	size int64
}

func (f *file) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	f.h.Write(b[:n])
	f.size += int64(n)
	return n, err
}

// built is what the MANIFEST says of a file.
type built struct {
	name, sha256 string
	size         int64
}

// builder writes one revision of a period's reports into a folder: a
// folder per partner and the operator's, from the period's lines in DT
// order. Detail rows and pair sums are kept in memory (one entry per
// user and pair; detail rows spill to disk past detailLimit), and each
// partner's sessions and billed seconds per day; the DT files are
// written as the lines stream by.
type builder struct {
	root     string
	p        *config.Partners
	h        Header
	files    map[string]*file // by path relative to root
	built    map[string][]built
	dt       map[string]*dtWriter
	detail   *detailSums
	ids      map[string]string  // partner ids, so sums share one copy
	pairs    map[[2]string]*agg // (local, home)
	days     map[string]*ispDays
	monthLen int // days in the period
	except   *file
	exceptN  int64
	total    agg
	buf      []byte
	finished bool
	// rejects writes an ISP's REJECTS file (the records it sent that
	// roamclean rejected); nil: the folder has none.
	rejects func(isp string, w io.Writer) error
}

func newBuilder(root string, p *config.Partners, h Header) (*builder, error) {
	first, err := time.Parse("2006-01", h.Period)
	if err != nil {
		return nil, fmt.Errorf("period %q: %w", h.Period, err)
	}
	b := &builder{root: root, p: p, h: h, files: map[string]*file{}, built: map[string][]built{}, dt: map[string]*dtWriter{},
		detail: newDetailSums(filepath.Dir(root), detailLimit), ids: map[string]string{}, pairs: map[[2]string]*agg{},
		days: map[string]*ispDays{}, monthLen: first.AddDate(0, 1, -1).Day()}
	for _, x := range p.List {
		b.ids[x.ID] = x.ID
		b.days[x.ID] = &ispDays{}
	}
	for _, dir := range b.dirs() {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return nil, err
		}
	}
	for _, x := range p.List {
		f, err := b.create(x.ID, x.ID+"_"+h.Period+"_DT.txt")
		if err != nil {
			return nil, err
		}
		b.dt[x.ID] = &dtWriter{w: bufio.NewWriterSize(f, 64<<10)}
	}
	if b.except, err = b.create(OperatorDir, "exceptions.csv"); err != nil {
		return nil, err
	}
	io.WriteString(b.except, "reason,session_key,local_isp,home_isp,user_name,stop_utc,duration\n")
	return b, nil
}

// dirs are the folders of a period: each partner's, in id order, then the
// operator's.
func (b *builder) dirs() []string {
	var out []string
	for _, x := range sortedPartners(b.p) {
		out = append(out, x.ID)
	}
	return append(out, OperatorDir)
}

func sortedPartners(p *config.Partners) []*config.Partner {
	out := append([]*config.Partner(nil), p.List...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (b *builder) create(dir, name string) (*file, error) {
	path := filepath.Join(b.root, dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	x := &file{f: f, h: sha256.New()}
	x.w = bufio.NewWriterSize(f, 64<<10)
	b.files[filepath.Join(dir, name)] = x
	return x, nil
}

// add takes the next line of the period (in DT order).
func (b *builder) add(l *Line) error {
	if !rated(l) {
		b.exceptN++
		rec := []string{"NO_TARIFF", l.SessionKey, l.Local, l.Home, l.UserName, l.StopUTC, strconv.FormatInt(l.Duration, 10)}
		return writeCSV(b.except, rec)
	}
	for _, isp := range []string{l.Home, l.Local} {
		d, ok := b.dt[isp]
		if !ok {
			return fmt.Errorf("session %s: %s is not in partners.csv", l.SessionKey, isp)
		}
		if err := d.add(l, b.p); err != nil {
			return err
		}
	}
	day, err := b.day(l)
	if err != nil {
		return err
	}
	b.days[l.Local].local[day].add(l)
	b.days[l.Home].home[day].add(l)
	if err := b.detail.add(detailKey{l.UserName, b.ids[l.Home], b.ids[l.Local]}, l); err != nil {
		return err
	}
	pk := [2]string{l.Local, l.Home}
	if b.pairs[pk] == nil {
		b.pairs[pk] = &agg{}
	}
	b.pairs[pk].add(l)
	b.total.add(l)
	return nil
}

// dayUse sums one day's sessions of an ISP in one role.
type dayUse struct{ sessions, billed int64 }

func (d *dayUse) add(l *Line) {
	d.sessions++
	d.billed += l.Billed
}

// ispDays is an ISP's usage per day of the period (UTC stop day, index
// day-1) as local ISP and as home ISP: statement.html's chart. A fixed
// 31 days per partner, whatever the traffic.
type ispDays struct{ local, home [31]dayUse }

// day is the index of a line's UTC stop day in the period, read from the
// stored text (store.TimeLayout); a line of another month is refused.
func (b *builder) day(l *Line) (int, error) {
	s := l.StopUTC
	if len(s) >= 10 && s[:7] == b.h.Period && s[7] == '-' && s[8] >= '0' && s[8] <= '9' && s[9] >= '0' && s[9] <= '9' {
		if d := int(s[8]-'0')*10 + int(s[9]-'0'); d >= 1 && d <= b.monthLen {
			return d - 1, nil
		}
	}
	return 0, fmt.Errorf("session %s: stop time %q is not in the period %s", l.SessionKey, s, b.h.Period)
}

// writeCSV writes one CSV record: fields quoted only when they need it.
func writeCSV(w io.Writer, rec []string) error {
	_, err := w.Write(appendCSV(nil, rec))
	return err
}

func appendCSV(b []byte, rec []string) []byte {
	for i, f := range rec {
		if i > 0 {
			b = append(b, ',')
		}
		if strings.ContainsAny(f, ",\"\r\n") {
			b = append(b, '"')
			b = append(b, strings.ReplaceAll(f, `"`, `""`)...)
			b = append(b, '"')
		} else {
			b = append(b, f...)
		}
	}
	return append(b, '\n')
}

// ImbalanceError is a period whose ISPs' nets and fees (minor units) do
// not sum to zero: nothing is written, and the run's metrics say by how
// much (docs/alerts.yml).
type ImbalanceError struct{ Nets, Fees int64 }

func (e *ImbalanceError) Error() string {
	return fmt.Sprintf("the ISPs' nets (%s) and the fees (%s) do not sum to zero: nothing written (a bug: please report it)", cents(e.Nets), cents(e.Fees))
}

// nets are each ISP's credit and debit over the period.
type net struct{ credit, debit int64 }

// finish writes every file but the DT files (already written), checks
// that the ISPs' nets and the fees sum to zero, writes the MANIFESTs and
// makes the whole folder durable.
func (b *builder) finish() error {
	nets := map[string]*net{}
	for _, x := range b.p.List {
		nets[x.ID] = &net{}
	}
	var fees int64
	for k, a := range b.pairs {
		local, home := k[0], k[1]
		nets[local].credit += a.provider
		nets[home].debit += a.provider + a.fees
		fees += a.fees
	}
	var sum int64
	for _, n := range nets {
		sum += n.credit - n.debit
	}
	if sum+fees != 0 {
		return &ImbalanceError{Nets: sum, Fees: fees}
	}
	details, err := b.writeDetails()
	if err != nil {
		return err
	}
	for _, x := range sortedPartners(b.p) {
		if err := b.writeISP(x, details[x.ID]); err != nil {
			return err
		}
	}
	if err := b.writeOperator(nets, fees); err != nil {
		return err
	}
	return b.closeAll()
}

// ispDetail is one ISP's detail.csv, written as the sorted sums stream
// by, and what report.txt needs to lay the same rows out.
type ispDetail struct {
	f      *file
	layout *layout
	totals agg
}

var (
	detailHead      = []string{"user", "home_isp", "local_isp", "local_country", "sessions", "seconds", "billed_seconds", "billed_minutes", "provider", "consumer"}
	textDetailHead  = []string{"User", "Home", "Local", "Local country", "Sessions", "Seconds", "Billed min", "Provider", "Consumer"}
	textDetailRight = []bool{false, false, false, false, true, true, true, true, true}
)

// textDetail picks report.txt's detail cells from a detail.csv row.
func textDetail(dst *[9]string, rec []string) []string {
	*dst = [9]string{rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], rec[7], rec[8], rec[9]}
	return dst[:]
}

// writeDetails writes every ISP's detail.csv in one pass over the sorted
// sums: a row goes to its home and its local ISP.
func (b *builder) writeDetails() (map[string]*ispDetail, error) {
	out := map[string]*ispDetail{}
	for _, x := range sortedPartners(b.p) {
		f, err := b.create(x.ID, "detail.csv")
		if err != nil {
			return nil, err
		}
		if err := writeCSV(f, detailHead); err != nil {
			return nil, err
		}
		out[x.ID] = &ispDetail{f: f, layout: newLayout(textDetailHead, textDetailRight)}
	}
	var buf []byte
	var cells [9]string
	err := b.detail.each(func(k detailKey, a *agg) error {
		rec := []string{printable(k.user), k.home, k.local, printable(country(b.p, k.local)), itoa(a.sessions), itoa(a.seconds),
			itoa(a.billed), minutes(a.billed), cents(a.provider), cents(a.consumer)}
		buf = appendCSV(buf[:0], rec)
		for i, id := range [2]string{k.home, k.local} {
			if i == 1 && k.local == k.home {
				break
			}
			d := out[id]
			if d == nil {
				return fmt.Errorf("user %s: %s is not in partners.csv", k.user, id)
			}
			if _, err := d.f.Write(buf); err != nil {
				return err
			}
			d.totals.plus(a)
			d.layout.fit(textDetail(&cells, rec))
		}
		return nil
	})
	return out, err
}

// isp is one ISP's view of the period.
type ispView struct {
	pairs  [][2]string // (local, home), partner id order
	totals agg         // sessions the ISP took part in
	credit map[string]int64
	debit  map[string]int64
}

// view is one ISP's part of the period; keys are its detail rows.
func (b *builder) view(id string) *ispView {
	v := &ispView{credit: map[string]int64{}, debit: map[string]int64{}}
	for k, a := range b.pairs {
		local, home := k[0], k[1]
		if local != id && home != id {
			continue
		}
		v.pairs = append(v.pairs, k)
		v.totals.sessions += a.sessions
		v.totals.seconds += a.seconds
		v.totals.billed += a.billed
		v.totals.provider += a.provider
		v.totals.consumer += a.consumer
		v.totals.fees += a.fees
		if local == id {
			v.credit[home] += a.provider
		}
		if home == id {
			v.debit[local] += a.provider + a.fees
		}
	}
	sort.Slice(v.pairs, func(i, j int) bool {
		if v.pairs[i][0] != v.pairs[j][0] {
			return v.pairs[i][0] < v.pairs[j][0]
		}
		return v.pairs[i][1] < v.pairs[j][1]
	})
	return v
}

// counterparts lists the ISPs with a rated session with id, in id order.
func (v *ispView) counterparts() []string {
	seen := map[string]bool{}
	for k := range v.credit {
		seen[k] = true
	}
	for k := range v.debit {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (b *builder) writeISP(x *config.Partner, d *ispDetail) error {
	v := b.view(x.ID)
	id := x.ID
	if err := b.writeFile(id, "summary.csv", func(w io.Writer) error { return writeSummary(w, b, v) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "invoice.csv", func(w io.Writer) error { return writeInvoice(w, b, v) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "creditdebit.csv", func(w io.Writer) error { return writeCreditDebit(w, v, id) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "report.txt", func(w io.Writer) error { return writeText(w, b, v, x, d) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "statement.html", func(w io.Writer) error { return writeStatement(w, b, v, x, d) }); err != nil {
		return err
	}
	if b.rejects == nil {
		return nil
	}
	return b.writeFile(id, RejectsFile(id, b.h.Period), func(w io.Writer) error { return b.rejects(id, w) })
}

// RejectsFile is the name of an ISP's returned records in its folder.
func RejectsFile(isp, period string) string { return isp + "_" + period + "_REJECTS.csv" }

func (b *builder) writeOperator(nets map[string]*net, fees int64) error {
	return b.writeFile(OperatorDir, "creditdebit.csv", func(w io.Writer) error {
		io.WriteString(w, "isp,credit,debit,net\n")
		var credit, debit int64
		for _, x := range sortedPartners(b.p) {
			n := nets[x.ID]
			if n.credit == 0 && n.debit == 0 {
				continue
			}
			credit += n.credit
			debit += n.debit
			writeCSV(w, []string{x.ID, cents(n.credit), cents(n.debit), cents(n.credit - n.debit)})
		}
		writeCSV(w, []string{"OPERATOR_FEES", cents(fees), cents(0), cents(fees)})
		return writeCSV(w, []string{"TOTAL", cents(credit + fees), cents(debit), cents(credit + fees - debit)})
	})
}

// writeFile writes a whole file of a folder with fill.
func (b *builder) writeFile(dir, name string, fill func(io.Writer) error) error {
	f, err := b.create(dir, name)
	if err != nil {
		return err
	}
	return fill(f)
}

// closeAll flushes and closes every file, writes each folder's MANIFEST,
// and makes the whole folder durable: one syncfs where the file system
// has it, else an fsync of every file and folder.
func (b *builder) closeAll() error {
	for _, d := range b.dt {
		if err := d.w.Flush(); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(b.files))
	for n := range b.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := b.files[n]
		if err := f.w.Flush(); err != nil {
			return err
		}
		if err := f.f.Close(); err != nil {
			return err
		}
		dir := filepath.Dir(n)
		b.built[dir] = append(b.built[dir], built{filepath.Base(n), hex.EncodeToString(f.h.Sum(nil)), f.size})
	}
	b.files = map[string]*file{}
	b.finished = true
	for _, dir := range b.dirs() {
		if err := b.writeManifest(dir); err != nil {
			return err
		}
	}
	if err := durable.SyncFS(b.root); err == nil {
		return nil
	} else if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return filepath.WalkDir(b.root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return durable.SyncDir(p)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// abort closes what is open; the caller removes the folder.
func (b *builder) abort() {
	for _, f := range b.files {
		f.f.Close()
	}
	b.files = map[string]*file{}
	b.detail.remove()
}
