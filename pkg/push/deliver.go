package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/transport/sftp"
)

// deliverAndSettle uploads a committed batch from outgoing/ and, once it
// is confirmed in place, moves its files to sent/.
func (p *pusher) deliverAndSettle(ctx context.Context, base string) error {
	mpath := filepath.Join(p.outgoing(), base+batch.ManifestExt)
	mf, err := os.Open(mpath)
	if err != nil {
		return err
	}
	mr, err := batch.ReadManifest(mf, mpath)
	mf.Close()
	if err != nil {
		return fmt.Errorf("batch %s in outgoing/: %w", base, err)
	}
	m := mr.Header
	files := []string{base + batch.DataExt, base + batch.ManifestExt} // manifest last: it completes the batch
	var total int64
	for _, f := range files {
		st, err := os.Stat(filepath.Join(p.outgoing(), f))
		if err != nil {
			return fmt.Errorf("batch %s in outgoing/: %w", base, err)
		}
		if f == m.DataFile && st.Size() != m.DataSize {
			return fmt.Errorf("batch %s in outgoing/: the tar has %d bytes, its manifest says %d: the local copy is damaged; move outgoing/%s* aside and check the disk",
				base, st.Size(), m.DataSize, base)
		}
		total += st.Size()
	}
	start := time.Now()
	if err := p.deliver(ctx, base, files, total); err != nil {
		return fmt.Errorf("push batch %s: %w (nothing moved in the spool; the next run sends the same batch)", base, err)
	}
	elapsed := time.Since(start)
	missing, err := p.settle(base)
	if err != nil {
		return fmt.Errorf("batch %s delivered, but moving its files to sent/ failed (the next run finishes it): %w", base, err)
	}
	p.run.Add("batches", 1)
	p.run.Add("batch", int64(m.Sequence)-p.run.Count("batch")) // the last sequence sent
	p.run.Add("files", m.Totals.Files)
	p.run.Add("records", m.Totals.Records)
	p.run.Add("bytes", total)
	p.run.Add("upload_ms", elapsed.Milliseconds())
	if missing > 0 {
		p.run.Add("missing", missing)
	}
	p.run.Log.Info("batch delivered", "batch", base, "files", m.Totals.Files, "records", m.Totals.Records,
		"bytes", total, "seconds", fmt.Sprintf("%.3f", elapsed.Seconds()))
	return nil
}

// deliver puts the files in order, retrying transient network faults with
// backoff on a new connection; permanent faults end it at once.
func (p *pusher) deliver(ctx context.Context, base string, files []string, total int64) error {
	wait := p.opt.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = p.send(ctx, files, total)
		if err == nil {
			return nil
		}
		p.closeTransport()
		if !Transient(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= p.opt.Attempts {
			return fmt.Errorf("gave up after %d of %d tries: %w", attempt, p.opt.Attempts, err)
		}
		p.run.Log.Warn("transient fault; trying again", "batch", base, "try", attempt, "wait", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (after: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

func (p *pusher) send(ctx context.Context, files []string, total int64) error {
	if p.tr == nil {
		tr, err := p.opt.Dial(ctx)
		if err != nil {
			return err
		}
		p.tr = tr
	}
	bar := p.run.Progress("upload", "B", total)
	defer bar.Done()
	progress := p.progress(bar)
	for _, f := range files {
		local := filepath.Join(p.outgoing(), f)
		st, err := os.Stat(local)
		if err != nil {
			return err
		}
		there, err := p.tr.Stat(ctx, f)
		switch {
		case err == nil && there.Size() == st.Size():
			// An earlier run put it in place and stopped before settling:
			// final names appear only by rename after a size check.
			if f != p.streamed {
				p.run.Log.Info("already at the destination; not sent again", "file", f)
			}
			bar.Add(st.Size())
			continue
		case err == nil:
			return fmt.Errorf("the destination already has %s with %d bytes, this batch's has %d: "+
				"that sequence number was used for other content (was the edge's spool/state lost?); refusing to overwrite it", f, there.Size(), st.Size())
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := p.tr.Put(ctx, local, f, progress); err != nil {
			return err
		}
	}
	// Confirm: both final names there, with the right sizes.
	for _, f := range files {
		st, err := os.Stat(filepath.Join(p.outgoing(), f))
		if err != nil {
			return err
		}
		there, err := p.tr.Stat(ctx, f)
		if err != nil {
			return fmt.Errorf("confirm %s: %w", f, err)
		}
		if there.Size() != st.Size() {
			return fmt.Errorf("confirm %s: %d bytes at the destination, %d here", f, there.Size(), st.Size())
		}
	}
	return nil
}

// progress reports uploaded bytes to the bar and the Progress option.
func (p *pusher) progress(bar *stage.Progress) func(int64) {
	return func(n int64) {
		bar.Add(n)
		if p.opt.Progress != nil {
			p.opt.Progress(n)
		}
	}
}

// Transient says whether a fault is worth another try in the same run: a
// dropped or refused connection, or a timeout. Everything else (host key,
// login, permission denied, disk full, a bad path) is permanent.
func Transient(err error) bool {
	var hk *sftp.HostKeyError
	var auth *sftp.AuthError
	if errors.As(err, &hk) || errors.As(err, &auth) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ENETDOWN,
		io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, os.ErrDeadlineExceeded, sftp.ErrConnectionLost} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
