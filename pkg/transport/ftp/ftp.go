// Package ftp publishes files to an FTP or explicit-FTPS server (the
// destination of `roamreport publish`, docs/publish-transport.md): each
// file to a temporary name, size-checked, then renamed over the final
// name, so a reader never sees a partial file under the final name.
//
// Transient faults (a dropped or reset connection, a timeout, a 4xx
// reply) are retried on a new connection; a refused login or a TLS or
// certificate failure stops at once with an error that wraps ErrRefused.
package ftp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	goftp "github.com/jlaffaye/ftp"
)

// ErrRefused marks a fault that no retry mends: the server refused the
// login (530), or TLS was asked for and could not be had (no AUTH TLS, a
// certificate not trusted, a failed handshake or protected data channel).
var ErrRefused = errors.New("refused")

// Options say where to connect and how.
type Options struct {
	// URL is ftp://user@host[:port]/path (plain FTP) or ftps://... (explicit
	// FTPS: AUTH TLS on the same port, data channel protected). Port 21 by
	// default. The path is the destination's root, relative to the login
	// folder as in RFC 1738 and curl ("/reports" = reports in the login
	// folder; "/%2Fsrv/ftp" = the absolute /srv/ftp); Dial makes it when
	// missing. A password in the URL is refused: use Password.
	URL      *url.URL
	Password string
	// CAFile is a PEM file of the certificates (or CAs) to trust for
	// ftps://; empty means the system's roots.
	CAFile string
	// Timeout bounds the dial and every read or write on a connection (so
	// each command and each stalled stretch of a transfer); 0 means 30 s.
	Timeout time.Duration
	// Retries is how many more tries a transient fault gets, each on a new
	// connection; 0 means 3, negative means none.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one; 0 means 1 s (so 1 s, 2 s, 4 s).
	Backoff time.Duration
}

// Client is a connected destination folder. Its methods may be called from
// several goroutines; they run one at a time.
type Client struct {
	addr     string // host:port, for messages and dials
	user     string
	password string
	tls      *tls.Config // nil for plain FTP
	timeout  time.Duration
	retries  int
	backoff  time.Duration
	rootRel  string // root from the URL: relative to the login folder, or absolute
	url      string // for messages
	trust    string // what certificates are trusted, for messages

	mu   sync.Mutex
	root string // absolute root on the server, known after the first login
	sess *session
}

// parse checks the options and makes a client that is not connected yet.
func parse(o Options) (*Client, error) {
	u := o.URL
	if u == nil {
		return nil, errors.New("ftp: no URL")
	}
	if u.Scheme != "ftp" && u.Scheme != "ftps" {
		return nil, fmt.Errorf("ftp: want ftp://user@host[:port]/path or ftps://..., got %s", u.Redacted())
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("ftp: %s has no user: want %s://user@host/path", u.Redacted(), u.Scheme)
	}
	if _, ok := u.User.Password(); ok {
		return nil, fmt.Errorf("ftp: %s holds a password: give it in a password file, not in the URL", u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("ftp: %s has no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ftp: %s: no query or fragment allowed", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "21"
	}
	c := &Client{
		addr:     net.JoinHostPort(u.Hostname(), port),
		user:     u.User.Username(),
		password: o.Password,
		timeout:  o.Timeout,
		retries:  o.Retries,
		backoff:  o.Backoff,
		url:      u.Redacted(),
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	switch {
	case c.retries == 0:
		c.retries = 3
	case c.retries < 0:
		c.retries = 0
	}
	if c.backoff <= 0 {
		c.backoff = time.Second
	}
	// "/x" is x in the login folder; "//x" (written /%2Fx) is /x.
	p := strings.TrimPrefix(u.Path, "/")
	abs := strings.HasPrefix(p, "/")
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return nil, fmt.Errorf("ftp: %s: no .. in the path", u.Redacted())
		}
	}
	c.rootRel = path.Clean("/" + p)
	if !abs {
		c.rootRel = strings.TrimPrefix(c.rootRel, "/") // "" = the login folder
	}
	if u.Scheme == "ftps" {
		c.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		c.trust = "the system's CA certificates"
		if o.CAFile != "" {
			c.trust = "the CA file " + o.CAFile
			b, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ftp: CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("ftp: CA file %s holds no PEM certificate", o.CAFile)
			}
			c.tls.RootCAs = pool
		}
	} else if o.CAFile != "" {
		return nil, fmt.Errorf("ftp: a CA file is for ftps:// only, not %s", u.Redacted())
	}
	return c, nil
}

// Dial connects, logs in and makes the root folder when missing. A
// transient fault is retried like any other command.
func Dial(ctx context.Context, o Options) (*Client, error) {
	c, err := parse(o)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.do(ctx, "", func(*session) error { return nil }); err != nil {
		c.drop()
		return nil, err
	}
	return c, nil
}

// session is one logged-in control connection and what it knows.
type session struct {
	sc      *goftp.ServerConn
	mu      sync.Mutex
	ctx     context.Context // the running command's, for data dials
	control net.Conn        // raw, closed to abort whatever runs
	data    net.Conn        // the current data connection, raw
	dirs    map[string]bool // folders known to exist
}

// abort closes the connections under the library, which takes no context:
// a cancelled run fails whatever command is in flight.
func (s *session) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.control != nil {
		s.control.Close()
	}
	if s.data != nil {
		s.data.Close()
	}
}

// connect dials and logs in; the caller's message names the server.
func (c *Client) connect(ctx context.Context) (*session, error) {
	s := &session{ctx: ctx, dirs: map[string]bool{}}
	var sessTLS *tls.Config
	if c.tls != nil {
		// vsftpd wants the data channel to resume the control channel's
		// TLS session (require_ssl_reuse), and a new server process
		// knows no session of an older connection: one cache per
		// connection.
		sessTLS = c.tls.Clone()
		sessTLS.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	first := true
	dial := func(network, addr string) (net.Conn, error) {
		s.mu.Lock()
		ctx, control := s.ctx, first
		first = false
		s.mu.Unlock()
		d := net.Dialer{Timeout: c.timeout}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if control {
			s.control = raw
			// The library wraps it in TLS itself after AUTH TLS.
			return &deadlineConn{Conn: raw, timeout: c.timeout}, nil
		}
		s.data = raw
		conn := net.Conn(&deadlineConn{Conn: raw, timeout: c.timeout})
		if sessTLS != nil {
			// With a dial function the library leaves data TLS to us.
			conn = &tlsData{Conn: tls.Client(conn, sessTLS)}
		}
		return conn, nil
	}
	opts := []goftp.DialOption{goftp.DialWithDialFunc(dial)}
	if sessTLS != nil {
		opts = append(opts, goftp.DialWithExplicitTLS(sessTLS))
	}
	stop := context.AfterFunc(ctx, s.abort)
	defer stop()
	sc, err := goftp.Dial(c.addr, opts...)
	if err != nil {
		var te *textproto.Error
		if sessTLS != nil && errors.As(err, &te) && te.Code/100 == 5 {
			// The server has no AUTH TLS: stop before the password
			// is sent in the clear.
			return nil, fmt.Errorf("%w: ftps:// asks for TLS but the server refused AUTH TLS (%v); not going on in plain text",
				ErrRefused, err)
		}
		return nil, c.wrapConnErr("connect", err)
	}
	s.sc = sc
	if err := sc.Login(c.user, c.password); err != nil {
		s.abort()
		var te *textproto.Error
		reply := errors.As(err, &te)
		switch k := kindOf(err); {
		case reply && te.Code == 530, k == kindUnknown:
			// kindUnknown: the library reports a refused USER as a bare
			// message.
			return nil, fmt.Errorf("%w: login as %q: %w", ErrRefused, c.user, oneLine(err))
		case reply && te.Code/100 == 5 && sessTLS != nil:
			// PBSZ or PROT P refused: no protected data channel.
			return nil, fmt.Errorf("%w: login as %q: the server refused a protected data channel: %w", ErrRefused, c.user, err)
		default:
			return nil, c.wrapConnErr(fmt.Sprintf("login as %q", c.user), err)
		}
	}
	if c.root == "" {
		root := c.rootRel
		if !path.IsAbs(root) {
			pwd, err := sc.CurrentDir()
			if err != nil {
				s.abort()
				return nil, c.wrapConnErr("PWD", err)
			}
			root = path.Join(pwd, root)
		}
		if err := s.mkdirs(root); err != nil {
			s.abort()
			return nil, fmt.Errorf("root folder %s: %w", root, err)
		}
		c.root = root
	}
	return s, nil
}

// wrapConnErr marks TLS failures while connecting as refused: they come
// from this server's TLS setup (or someone in between), not from a
// passing fault. The handshake runs with the first command after AUTH TLS
// (the login), so it says which it was.
func (c *Client) wrapConnErr(what string, err error) error {
	var rh tls.RecordHeaderError
	switch {
	case certFailure(err):
		return fmt.Errorf("%w: TLS: the server's certificate is not trusted by %s (for %s): %w", ErrRefused, c.trust, c.tls.ServerName, oneLine(err))
	case networkFault(err):
	case errors.As(err, &rh):
		// Plain text where TLS was due, as vsftpd's "500 OOPS: ..." when
		// its certificate cannot be loaded.
		return fmt.Errorf("%w: TLS handshake (%s): the server sent %q, not TLS: %w", ErrRefused, what, rh.RecordHeader[:], oneLine(err))
	case tlsFailure(err):
		return fmt.Errorf("%w: TLS handshake (%s): %w", ErrRefused, what, oneLine(err))
	}
	return fmt.Errorf("%s: %w", what, oneLine(err))
}

// mkdirs makes dir and each missing folder above it, one MKD a level
// (vsftpd makes one level per MKD and fails a STOR into a missing folder).
func (s *session) mkdirs(dir string) error {
	if dir == "/" || s.dirs[dir] {
		return nil
	}
	if err := s.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	if err := s.sc.MakeDir(dir); err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code/100 != 5 {
			return fmt.Errorf("MKD %s: %w", dir, err)
		}
		// vsftpd answers 550 both for "exists" and for "may not": the
		// folder is fine if we can change into it.
		if cerr := s.sc.ChangeDir(dir); cerr != nil {
			return fmt.Errorf("MKD %s: %w", dir, err)
		}
	}
	s.dirs[dir] = true
	return nil
}

// do runs op on a live session, retrying transient faults on a new one
// after the backoff. Callers hold c.mu.
func (c *Client) do(ctx context.Context, what string, op func(*session) error) error {
	wait := c.backoff
	var first error
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", c.prefix(what), err)
		}
		err := c.try(ctx, what, op)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// A cancelled run aborts the connection; the library then
			// reports a closed connection.
			c.drop()
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		k := kindOf(err)
		if k != kindPermanent && k != kindUnknown {
			c.drop() // mid-command or refused: this connection is done
		}
		if k != kindTransient {
			return err
		}
		if first == nil {
			first = err
		}
		if try >= c.retries {
			if try > 0 && first.Error() != err.Error() {
				return fmt.Errorf("%w (%d tries; the first failed: %v)", err, try+1, first)
			}
			if try > 0 {
				return fmt.Errorf("%w (%d tries)", err, try+1)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) try(ctx context.Context, what string, op func(*session) error) error {
	if c.sess == nil {
		s, err := c.connect(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", c.prefix(what), err)
		}
		c.sess = s
	}
	s := c.sess
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	defer context.AfterFunc(ctx, s.abort)()
	return op(s)
}

// prefix names the server and the operation ("" for none) in messages.
func (c *Client) prefix(what string) string {
	if what == "" {
		return "ftp " + c.addr
	}
	return "ftp " + c.addr + ": " + what
}

// drop forgets the current connection, closing it without a word.
func (c *Client) drop() {
	if c.sess != nil {
		c.sess.abort()
		c.sess = nil
	}
}

// TempName is where name is uploaded before it is renamed into place: in
// the same folder, a leading '.' and a ".part" suffix. It is fixed, so a
// run after a crash replaces the leftover instead of adding one.
func TempName(name string) string {
	return path.Join(path.Dir(name), "."+path.Base(name)+".part")
}

// checkName refuses names that leave the root.
func checkName(name string) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("ftp: bad name %q: want a slash-separated path inside the destination", name)
	}
	return nil
}

// Put uploads localPath to name: MKD of each missing folder, STOR to
// TempName(name), SIZE against the local size, then RNFR/RNTO over name
// (vsftpd replaces an existing file). On a retry the upload starts over;
// progress, when not nil, gets each byte once.
func (c *Client) Put(ctx context.Context, localPath, name string, progress func(int64)) error {
	if err := checkName(name); err != nil {
		return err
	}
	f, err := os.Open(localPath)
	if err != nil {
		return fmt.Errorf("ftp %s: put %s: %w", c.addr, name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ftp %s: put %s: %w", c.addr, name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var reported int64
	return c.do(ctx, "put "+name, func(s *session) error {
		final := path.Join(c.root, name)
		tmp := path.Join(c.root, TempName(name))
		fail := func(what string, err error) error {
			return fmt.Errorf("ftp %s: put %s: %s: %w", c.addr, name, what, oneLine(err))
		}
		if err := s.mkdirs(path.Dir(final)); err != nil {
			return fail("folder", err)
		}
		// A leftover the login does not own (written by hand or by another
		// account) cannot be truncated by STOR; DELE needs only the
		// folder's permission.
		if err := s.sc.Delete(tmp); err != nil && !isReply(err) {
			return fail("DELE "+tmp, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fail("read "+localPath, err)
		}
		r := &reader{ctx: ctx, f: f, progress: progress, reported: &reported}
		if err := s.sc.Stor(tmp, r); err != nil {
			if r.err != nil {
				return fail("read "+localPath, r.err)
			}
			return fail("STOR "+tmp, err)
		}
		n, err := s.sc.FileSize(tmp)
		if err != nil {
			return fail("SIZE "+tmp, err)
		}
		if n != st.Size() {
			return fail("SIZE "+tmp, transient{fmt.Errorf("%d bytes on the server after upload, %s has %d", n, localPath, st.Size())})
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.sc.Rename(tmp, final); err != nil {
			return fail("rename "+tmp+" to "+final, err)
		}
		return nil
	})
}

// reader feeds the upload from the local file in large writes, stops when
// ctx is cancelled, and reports progress beyond what earlier tries did.
type reader struct {
	ctx      context.Context
	f        *os.File
	progress func(int64)
	reported *int64
	pos      int64
	err      error // a local read error, told apart from the network's
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.f.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	r.pos += int64(n)
	if r.progress != nil && r.pos > *r.reported {
		r.progress(r.pos - *r.reported)
		*r.reported = r.pos
	}
	return n, err
}

// WriteTo is what io.Copy uses: 1 MiB writes instead of 32 KiB ones.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 1<<20)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// fileInfo is what SIZE tells: vsftpd has no MLST, and LIST times are
// coarse and local, so only the name and the size are filled in.
type fileInfo struct {
	name string
	size int64
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return 0o644 }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return false }
func (fi fileInfo) Sys() any           { return nil }

// Stat describes the file name by its size (SIZE); an error wrapping
// fs.ErrNotExist when the server has no such file (vsftpd answers 550
// for a missing file, a folder and one it may not read alike).
func (c *Client) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var fi fs.FileInfo
	err := c.do(ctx, "stat "+name, func(s *session) error {
		p := path.Join(c.root, name)
		n, err := s.sc.FileSize(p)
		if err != nil {
			return c.fileErr("stat", p, err)
		}
		fi = fileInfo{name: path.Base(name), size: n}
		return nil
	})
	return fi, err
}

// ReadFile returns the content of name, at most max bytes: a larger file
// is an error. An error wraps fs.ErrNotExist when name is missing.
func (c *Client) ReadFile(ctx context.Context, name string, max int64) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	err := c.do(ctx, "read "+name, func(s *session) error {
		p := path.Join(c.root, name)
		n, err := s.sc.FileSize(p)
		if err != nil {
			return c.fileErr("read", p, err)
		}
		if n > max {
			return fmt.Errorf("ftp %s: read %s: %d bytes, more than the %d allowed", c.addr, p, n, max)
		}
		resp, err := s.sc.Retr(p)
		if err != nil {
			return c.fileErr("read", p, err)
		}
		b, rerr := io.ReadAll(io.LimitReader(resp, max+1))
		cerr := oneLine(resp.Close())
		switch {
		case rerr != nil:
			return fmt.Errorf("ftp %s: read %s: %w", c.addr, p, rerr)
		case int64(len(b)) > max:
			return fmt.Errorf("ftp %s: read %s: more than the %d bytes allowed", c.addr, p, max)
		case cerr != nil:
			return fmt.Errorf("ftp %s: read %s: %w", c.addr, p, cerr)
		}
		out = b
		return nil
	})
	return out, err
}

// fileErr turns a 550 reply into fs.ErrNotExist.
func (c *Client) fileErr(op, p string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code == 550 {
		return fmt.Errorf("ftp %s: %s %s: %w (%v)", c.addr, op, p, fs.ErrNotExist, err)
	}
	return fmt.Errorf("ftp %s: %s %s: %w", c.addr, op, p, oneLine(err))
}

// Close logs out (QUIT) and closes the connection. It may be called again.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	err := c.sess.sc.Quit()
	c.sess = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("ftp %s: quit: %w", c.addr, err)
	}
	return nil
}

// String names the destination in messages.
func (c *Client) String() string { return c.url }

// deadlineConn bounds every read and write by the timeout: a command
// whose reply does not come, or a transfer that stalls, fails instead of
// hanging the run. Long transfers are fine as long as bytes move.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.Conn.Write(p)
}

// tlsData is a TLS data connection that closes the polite way: its
// close_notify first, then what the server still sends is read before the
// socket is closed. A TLS 1.3 server sends session tickets after the
// handshake, which an upload never reads, and closing a socket with unread
// bytes makes the kernel send a reset: vsftpd then fails the upload
// ("426 Failure reading network stream.").
type tlsData struct{ *tls.Conn }

func (d *tlsData) Close() error {
	if d.Conn.ConnectionState().HandshakeComplete {
		if err := d.Conn.CloseWrite(); err == nil {
			// Bounded: a download given up early is not read to its end.
			io.Copy(io.Discard, io.LimitReader(d.Conn, 256<<10))
		}
	}
	return d.Conn.Close()
}
