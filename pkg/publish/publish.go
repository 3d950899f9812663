// Package publish puts each ISP's folder of a reported revision on its
// FTP directory (or a local folder): every file under a temporary name,
// its size checked, renamed into place, the MANIFEST last, so an ISP that
// polls its directory never takes a partial set. What is already there
// (same size, same SHA-256 in the remote MANIFEST) is not sent again.
// docs/publish.md describes it.
package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// Destination is where a publish puts files: an FTP server
// (pkg/transport/ftp) or a folder (pkg/transport/local). Names are
// slash-separated, relative to the destination's root.
type Destination interface {
	// Put copies localPath to name, making missing folders: to a
	// temporary name in the same folder, size-checked, then renamed over
	// name. A failure never leaves a file under name that differs.
	Put(ctx context.Context, localPath, name string, progress func(int64)) error
	// Stat describes name; an error that errors.Is fs.ErrNotExist when
	// it is not there.
	Stat(ctx context.Context, name string) (fs.FileInfo, error)
	// ReadFile returns name's content, at most max bytes.
	ReadFile(ctx context.Context, name string, max int64) ([]byte, error)
	Close() error
}

// Options are roamreport publish's switches.
type Options struct {
	Period string
	// Revision is the one to publish; 0: the latest, unless it has
	// NO_TARIFF sessions (exit 3): one of those goes only when named.
	Revision int64
	Force    bool // send every file even when the destination has it
	Now      func() time.Time
	// Dial opens a destination; nil: Dial (FTP, FTPS or a folder).
	Dial func(ctx context.Context, t Target) (Destination, error)
	// BeforeFile, when set, is called before each upload (tests pause a
	// publish there).
	BeforeFile func(isp, name string)
}

// Counts of the summary line.
const (
	countISPs      = "isps"
	countPublished = "published"
	countUnchanged = "unchanged"
	countFiles     = "files_sent"
	countBytes     = "bytes_sent"
	countFailed    = "failed"
)

// maxManifest bounds what is read of a remote MANIFEST.
const maxManifest = 1 << 20

// Publish publishes every ISP's folder of a reported revision of a
// period. One ISP's failure does not stop the others (exit 1 naming it at
// the end); a refused login or certificate stops at once.
func Publish(ctx context.Context, run *stage.Run, s *config.Settlement, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Dial == nil {
		opts.Dial = Dial
	}
	for _, c := range []string{countISPs, countPublished, countUnchanged, countFiles, countBytes, countFailed} {
		run.Add(c, 0)
	}
	targets, err := targetsOf(s)
	if err != nil {
		return err
	}
	db, err := store.OpenExisting(ctx, s.DB)
	if err != nil {
		if store.IsNotExist(err) {
			return fmt.Errorf("%s: no database yet: nothing has been reported", s.DB)
		}
		return err
	}
	defer db.Close()
	rep, ok, err := db.FindReport(ctx, opts.Period, opts.Revision)
	if err != nil {
		return err
	}
	if !ok {
		if opts.Revision > 0 {
			return stage.Usagef("%s has no revision %d: see roamreport status", opts.Period, opts.Revision)
		}
		return stage.Usagef("%s has not been reported: run roamreport --period %s first", opts.Period, opts.Period)
	}
	if rep.Exceptions > 0 && opts.Revision == 0 {
		// Its report needed a person (exit 3); a later run, or the hourly
		// publish, must not send it out behind their back.
		return &stage.AttentionError{Msg: fmt.Sprintf("revision %d of %s has %d session(s) with no tariff (NO_TARIFF): not published; "+
			"price them (tariffs.csv, then roamreport --period %s --revise) or publish it as it is with --revision %d",
			rep.Revision, rep.Period, rep.Exceptions, rep.Period, rep.Revision)}
	}
	for i := range targets {
		targets[i].folder = path.Join(targets[i].folder, rep.Folder)
	}
	p := &publisher{ctx: ctx, run: run, s: s, opts: opts, db: db, rep: rep, local: filepath.Join(s.Reports, rep.Folder)}
	if _, err := os.Stat(filepath.Join(p.local, "operator", "MANIFEST")); err != nil {
		return fmt.Errorf("revision %d of %s is not in place at %s (run roamreport --period %s to put it there): %w",
			rep.Revision, rep.Period, p.local, rep.Period, err)
	}
	return p.publishAll(targets)
}

type publisher struct {
	ctx   context.Context
	run   *stage.Run
	s     *config.Settlement
	opts  Options
	db    *store.DB
	rep   store.Report
	local string // the revision's folder on this host
}

// isp is one ISP to publish and where.
type isp struct {
	id     string
	target Target
	folder string // at the destination: [ISP/]PERIOD[/rev-N]
}

func (p *publisher) publishAll(targets []isp) error {
	dests := map[string]Destination{}
	defer func() {
		for _, d := range dests {
			d.Close()
		}
	}()
	var failed []string
	for _, x := range targets {
		p.run.Add(countISPs, 1)
		d, ok := dests[x.target.key()]
		var err error
		if !ok {
			if d, err = p.opts.Dial(p.ctx, x.target); err == nil {
				dests[x.target.key()] = d
			}
		}
		if err == nil {
			err = p.publishISP(d, x)
		}
		if err == nil {
			continue
		}
		if p.ctx.Err() != nil {
			return p.ctx.Err()
		}
		if errors.Is(err, ErrRefused) {
			return fmt.Errorf("publishing %s to %s: %w", x.id, x.target.Name, err)
		}
		p.run.Add(countFailed, 1)
		p.run.Log.Error("not published", "isp", x.id, "destination", x.target.Name, "error", err.Error())
		failed = append(failed, x.id)
		if d, ok := dests[x.target.key()]; ok {
			// The connection may be broken: the next ISP dials again.
			d.Close()
			delete(dests, x.target.key())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d ISP(s) not published (%s): the next run completes them", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// publishISP makes the ISP's folder at the destination hold exactly its
// local set, MANIFEST last.
func (p *publisher) publishISP(d Destination, x isp) error {
	dir := filepath.Join(p.local, x.id)
	mpath := filepath.Join(dir, "MANIFEST")
	manifest, err := os.ReadFile(mpath)
	if err != nil {
		return err
	}
	files, err := parseManifest(manifest, mpath)
	if err != nil {
		return err
	}
	// Never publish a damaged local file: each is checked against its
	// MANIFEST first.
	for _, f := range files {
		if err := checkLocal(filepath.Join(dir, f.name), f); err != nil {
			return fmt.Errorf("%w (run roamreport verify --period %s)", err, p.rep.Period)
		}
	}
	remoteManifest := path.Join(x.folder, "MANIFEST")
	there := map[string]entry{}
	remote, err := d.ReadFile(p.ctx, remoteManifest, maxManifest)
	switch {
	case err == nil:
		if got, perr := parseManifest(remote, x.target.Name+"/"+remoteManifest); perr == nil {
			for _, f := range got {
				there[f.name] = f
			}
		}
	case errors.Is(err, fs.ErrNotExist):
	case p.tooLarge(d, remoteManifest):
		// Not a MANIFEST of ours (a few hundred bytes): trusted no more
		// than a garbled one, so the whole set goes and replaces it.
		p.run.Log.Warn("the MANIFEST at the destination is too large to be one of ours: sending the whole set and replacing it",
			"isp", x.id, "destination", x.target.Name, "file", remoteManifest)
		remote = nil
	default:
		return err
	}
	pub := &store.Publication{ReportID: p.rep.ID, ISP: x.id, Destination: x.target.Name, Folder: x.folder,
		ManifestSHA256: sum(manifest)}
	anySent := false
	for _, f := range files {
		sent, err := p.ensure(d, x, dir, f, there[f.name])
		if err != nil {
			return err
		}
		anySent = anySent || sent
		pub.Files = append(pub.Files, store.PublishedFile{Name: f.name, SHA256: f.sha256, Size: f.size, Uploaded: sent})
	}
	mf := entry{name: "MANIFEST", sha256: pub.ManifestSHA256, size: int64(len(manifest))}
	sendManifest := p.opts.Force || anySent || !bytes.Equal(remote, manifest)
	if sendManifest {
		if err := p.put(d, x, mpath, mf); err != nil {
			return err
		}
	}
	pub.Files = append(pub.Files, store.PublishedFile{Name: mf.name, SHA256: mf.sha256, Size: mf.size, Uploaded: sendManifest})
	for _, f := range pub.Files {
		if f.Uploaded {
			pub.Uploaded++
			pub.Bytes += f.Size
		}
	}
	if pub.Uploaded == 0 {
		p.run.Add(countUnchanged, 1)
		known, err := p.db.HasPublication(p.ctx, pub)
		if err != nil || known {
			return err
		}
	} else {
		p.run.Add(countPublished, 1)
		p.run.Log.Info("published", "isp", x.id, "destination", x.target.Name, "folder", x.folder, "files", pub.Uploaded, "bytes", pub.Bytes)
	}
	pub.PublishedAt = store.FormatTime(p.opts.Now())
	return p.db.AddPublication(p.ctx, pub)
}

// tooLarge says whether the destination has name and it is larger than a
// MANIFEST may be.
func (p *publisher) tooLarge(d Destination, name string) bool {
	st, err := d.Stat(p.ctx, name)
	return err == nil && st.Size() > maxManifest
}

// ensure sends one file unless the destination has it: listed with the
// same SHA-256 and size in the remote MANIFEST, and of that size there.
func (p *publisher) ensure(d Destination, x isp, dir string, f, there entry) (bool, error) {
	name := path.Join(x.folder, f.name)
	if !p.opts.Force && there == f {
		st, err := d.Stat(p.ctx, name)
		if err == nil && st.Size() == f.size {
			return false, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return true, p.put(d, x, filepath.Join(dir, f.name), f)
}

func (p *publisher) put(d Destination, x isp, local string, f entry) error {
	if p.opts.BeforeFile != nil {
		p.opts.BeforeFile(x.id, f.name)
	}
	name := path.Join(x.folder, f.name)
	if err := d.Put(p.ctx, local, name, nil); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p.run.Add(countFiles, 1)
	p.run.Add(countBytes, f.size)
	return nil
}

func checkLocal(file string, f entry) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if n != f.size || hex.EncodeToString(h.Sum(nil)) != f.sha256 {
		return fmt.Errorf("%s does not match its MANIFEST (%d bytes, want %d, or another SHA-256): not published", file, n, f.size)
	}
	return nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// targetsOf is every partner with where its folder goes, in id order;
// folder is the ISP's part of the path at the destination.
func targetsOf(s *config.Settlement) ([]isp, error) {
	var out []isp
	var missing []string
	ids := make([]*config.Partner, len(s.Partners.List))
	copy(ids, s.Partners.List)
	sort.Slice(ids, func(i, j int) bool { return ids[i].ID < ids[j].ID })
	for _, x := range ids {
		switch {
		case x.Publish != "":
			// The ISP's own account: its home folder is its directory.
			out = append(out, isp{id: x.ID, target: newTarget(x.Publish, x.PublishURL, "", x.PublishPasswordFile, s.PublishCAFile)})
		case s.Publish != "":
			out = append(out, isp{id: x.ID, target: newTarget(s.Publish, s.PublishURL, s.PublishPassword, "", s.PublishCAFile), folder: x.ID})
		default:
			missing = append(missing, x.ID)
		}
	}
	if len(missing) > 0 {
		return nil, stage.Usagef("nowhere to publish %s: set [settlement] publish (or a publish column in partners.csv)", strings.Join(missing, ", "))
	}
	return out, nil
}

func sortedIDs(p *config.Partners) []string {
	out := make([]string, 0, len(p.List))
	for _, x := range p.List {
		out = append(out, x.ID)
	}
	sort.Strings(out)
	return out
}
