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

	"roamsettle/pkg/config"
	"roamsettle/pkg/durable"
)

// OperatorDir is the folder of the operator's own files in a period.
const OperatorDir = "operator"

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
// user and pair); the DT files are written as the lines stream by.
type builder struct {
	root     string
	p        *config.Partners
	h        Header
	files    map[string]*file // by path relative to root
	built    map[string][]built
	dt       map[string]*dtWriter
	detail   map[detailKey]*agg
	pairs    map[[2]string]*agg // (local, home)
	except   *file
	exceptN  int64
	total    agg
	buf      []byte
	finished bool
}

func newBuilder(root string, p *config.Partners, h Header) (*builder, error) {
	b := &builder{root: root, p: p, h: h, files: map[string]*file{}, built: map[string][]built{}, dt: map[string]*dtWriter{},
		detail: map[detailKey]*agg{}, pairs: map[[2]string]*agg{}}
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
	var err error
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
	k := detailKey{l.UserName, l.Home, l.Local}
	a := b.detail[k]
	if a == nil {
		a = &agg{}
		b.detail[k] = a
	}
	a.add(l)
	pk := [2]string{l.Local, l.Home}
	if b.pairs[pk] == nil {
		b.pairs[pk] = &agg{}
	}
	b.pairs[pk].add(l)
	b.total.add(l)
	return nil
}

// writeCSV writes one CSV record: fields quoted only when they need it.
func writeCSV(w io.Writer, rec []string) error {
	var b strings.Builder
	for i, f := range rec {
		if i > 0 {
			b.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\r\n") {
			b.WriteString(`"` + strings.ReplaceAll(f, `"`, `""`) + `"`)
		} else {
			b.WriteString(f)
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
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
		return fmt.Errorf("the ISPs' nets (%s) and the fees (%s) do not sum to zero: nothing written (a bug: please report it)", cents(sum), cents(fees))
	}
	keys := make([]detailKey, 0, len(b.detail))
	for k := range b.detail {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, c := keys[i], keys[j]
		if a.user != c.user {
			return a.user < c.user
		}
		if a.home != c.home {
			return a.home < c.home
		}
		return a.local < c.local
	})
	// Each ISP's detail rows, in one pass over the sorted keys.
	byISP := map[string][]detailKey{}
	for _, k := range keys {
		byISP[k.home] = append(byISP[k.home], k)
		byISP[k.local] = append(byISP[k.local], k)
	}
	for _, x := range sortedPartners(b.p) {
		if err := b.writeISP(x, byISP[x.ID], nets); err != nil {
			return err
		}
	}
	if err := b.writeOperator(nets, fees); err != nil {
		return err
	}
	return b.closeAll()
}

// isp is one ISP's view of the period.
type ispView struct {
	detail []detailKey
	pairs  [][2]string // (local, home), partner id order
	totals agg         // sessions the ISP took part in
	credit map[string]int64
	debit  map[string]int64
}

// view is one ISP's part of the period; keys are its detail rows.
func (b *builder) view(id string, keys []detailKey) *ispView {
	v := &ispView{detail: keys, credit: map[string]int64{}, debit: map[string]int64{}}
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

func (b *builder) writeISP(x *config.Partner, keys []detailKey, nets map[string]*net) error {
	v := b.view(x.ID, keys)
	id := x.ID
	if err := b.writeFile(id, "detail.csv", func(w io.Writer) error { return writeDetail(w, b, v) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "summary.csv", func(w io.Writer) error { return writeSummary(w, b, v) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "invoice.csv", func(w io.Writer) error { return writeInvoice(w, b, v) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "creditdebit.csv", func(w io.Writer) error { return writeCreditDebit(w, v, id) }); err != nil {
		return err
	}
	if err := b.writeFile(id, "report.txt", func(w io.Writer) error { return writeText(w, b, v, x) }); err != nil {
		return err
	}
	return nil
}

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
}
