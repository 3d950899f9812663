package push

import (
	"bufio"
	"context"
	"io"

	"roamsettle/pkg/transport/sftp"
)

// streamer is a Transport that can upload a file while it is written.
// Close on the writer puts the file in place; cancelling ctx first
// abandons it under its temporary name.
type streamer interface {
	Stream(ctx context.Context, name string, progress func(int64)) (io.WriteCloser, error)
}

var _ streamer = (*sftp.Client)(nil)

// upload is a tar being streamed while it is built. It never fails the
// build: after the first error it only counts bytes, and the batch is then
// delivered from outgoing/.
type upload struct {
	p    *pusher
	name string
	wc   io.WriteCloser
	// buf gathers the tar's many small writes (header, member, padding)
	// into large ones: each write to the stream is a hand-over between
	// goroutines.
	buf    *bufio.Writer
	cancel context.CancelFunc
	err    error
	closed bool
}

// startStream dials when needed and starts streaming name. It returns nil
// when the destination takes no stream or cannot be reached now (delivery
// retries), and an error only for a fault no retry mends (host key, login),
// so such a push fails before it bundles anything.
func (p *pusher) startStream(ctx context.Context, name string) (*upload, error) {
	if p.tr == nil {
		tr, err := p.opt.Dial(ctx)
		if err != nil {
			if !Transient(err) {
				return nil, err
			}
			p.run.Log.Info("no connection while bundling; delivering afterwards", "err", err)
			return nil, nil
		}
		p.tr = tr
	}
	st, ok := p.tr.(streamer)
	if !ok {
		return nil, nil
	}
	sctx, cancel := context.WithCancel(ctx)
	wc, err := st.Stream(sctx, name, p.progress(nil))
	if err != nil {
		cancel()
		p.run.Log.Warn("cannot start uploading while bundling; delivering afterwards", "err", err)
		return nil, nil
	}
	u := &upload{p: p, name: name, wc: wc, cancel: cancel}
	u.buf = bufio.NewWriterSize(writerFunc(u.send), 1<<20)
	return u, nil
}

func (u *upload) Write(b []byte) (int, error) {
	if u.err == nil {
		u.buf.Write(b) // errors come back through send
	}
	return len(b), nil
}

func (u *upload) send(b []byte) (int, error) {
	if u.err != nil {
		return len(b), nil
	}
	if _, err := u.wc.Write(b); err != nil {
		u.err = err
		u.p.run.Log.Warn("upload while bundling failed; the batch is delivered from outgoing/ after it is built", "file", u.name, "err", err)
	}
	return len(b), nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// finish puts the streamed tar in place: called only once the batch is
// committed here, so a final name never shows bytes the edge could lose.
func (u *upload) finish() {
	if u == nil {
		return
	}
	u.buf.Flush()
	if u.err != nil {
		return
	}
	u.closed = true
	if err := u.wc.Close(); err != nil {
		u.err = err
		u.p.run.Log.Warn("upload while bundling failed; delivering from outgoing/", "file", u.name, "err", err)
		u.p.closeTransport()
	} else {
		u.p.streamed = u.name
	}
	u.cancel()
}

// abort abandons an upload that was not finished.
func (u *upload) abort() {
	if u == nil || u.closed {
		return
	}
	u.closed = true
	u.cancel()
	u.wc.Close()
	if u.err != nil {
		u.p.closeTransport() // the connection is likely dead
	}
}
