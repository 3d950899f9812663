// Package sftp delivers batches to the central host over SFTP (SSH), with
// the host key checked against known_hosts or a pinned key.
package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Config says where to connect and how to authenticate.
type Config struct {
	URL                   *url.URL // sftp://user@host[:port]/path; /~/path is relative to the login folder
	KnownHosts            string
	HostKey               string // pinned host key, authorized_keys form; wins over KnownHosts
	InsecureIgnoreHostKey bool
	Identity              string        // private key file; may be missing when an agent has keys
	AgentSocket           string        // SSH_AUTH_SOCK, "" for no agent
	Timeout               time.Duration // TCP connect plus SSH handshake; 0 means 30s
	Log                   *slog.Logger  // for the insecure-host-key warning
}

// Client is a connected SFTP destination folder.
type Client struct {
	addr        string
	dir         string
	ssh         *ssh.Client
	sftp        *pkgsftp.Client
	agentConn   net.Conn
	fsync       bool
	posixRename bool
	stop        func() bool
}

// AuthError is a refused login: the server does not accept our key.
type AuthError struct {
	User, Addr string
	Keys       []string // fingerprints offered
	Err        error
}

func (e *AuthError) Error() string {
	keys := "no key"
	if len(e.Keys) > 0 {
		keys = "key " + strings.Join(e.Keys, ", ")
	}
	return fmt.Sprintf("sftp %s: login as %q refused with %s: add the public key to that user's authorized_keys on the server, or set [edge] identity (%v)",
		e.Addr, e.User, keys, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// TempName is where name is uploaded before it is renamed into place: a
// leading '.' so the loader never takes it (docs/batch.md). It is fixed,
// so a run after a crash overwrites the leftover instead of adding one.
func TempName(name string) string { return "." + name + ".part" }

// Dial connects, checks the host key, logs in and opens the folder.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	u := cfg.URL
	if u == nil || u.Scheme != "sftp" || u.User == nil {
		return nil, fmt.Errorf("sftp: want sftp://user@host[:port]/path, got %v", u)
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	hostKey, algos, err := hostKeyCheck(&cfg, addr)
	if err != nil {
		return nil, err
	}
	if cfg.InsecureIgnoreHostKey && cfg.Log != nil {
		cfg.Log.Warn("INSECURE: the SFTP server's host key is NOT checked (insecure_ignore_host_key / --insecure-ignore-host-key); anyone on the path can read and change the batches",
			"server", addr)
	}
	c := &Client{addr: addr}
	signers, err := c.signers(cfg)
	if err != nil {
		return nil, err
	}
	var fps []string
	for _, s := range signers {
		fps = append(fps, ssh.FingerprintSHA256(s.PublicKey()))
	}
	sshCfg := &ssh.ClientConfig{
		User:              u.User.Username(),
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Timeout:           timeout,
	}
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		c.closeAgent()
		return nil, fmt.Errorf("sftp %s: %w", addr, err)
	}
	conn.SetDeadline(time.Now().Add(timeout))
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, sshCfg)
	if err != nil {
		conn.Close()
		c.closeAgent()
		var he *HostKeyError
		if !errors.As(err, &he) && strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &AuthError{User: u.User.Username(), Addr: addr, Keys: fps, Err: err}
		}
		return nil, fmt.Errorf("sftp %s: %w", addr, err)
	}
	conn.SetDeadline(time.Time{})
	c.ssh = ssh.NewClient(sc, chans, reqs)
	c.stop = context.AfterFunc(ctx, func() { c.ssh.Close() })
	c.sftp, err = pkgsftp.NewClient(c.ssh,
		pkgsftp.UseConcurrentWrites(true),
		pkgsftp.MaxConcurrentRequestsPerFile(64),
		pkgsftp.UseFstat(true))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sftp %s: start the sftp subsystem: %w", addr, err)
	}
	_, c.fsync = c.sftp.HasExtension("fsync@openssh.com")
	_, c.posixRename = c.sftp.HasExtension("posix-rename@openssh.com")
	c.dir = u.Path
	if rel, ok := strings.CutPrefix(c.dir, "/~"); ok {
		c.dir = strings.TrimPrefix(rel, "/")
	}
	if c.dir == "" {
		c.dir = "."
	}
	st, err := c.sftp.Stat(c.dir)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sftp %s: push folder %s: %w", addr, c.dir, err)
	}
	if !st.IsDir() {
		c.Close()
		return nil, fmt.Errorf("sftp %s: push folder %s is not a folder", addr, c.dir)
	}
	go c.keepalive()
	return c, nil
}

// keepalive closes a connection whose server stopped answering, so a
// stalled upload fails (and is retried) instead of hanging the run.
func (c *Client) keepalive() {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for range t.C {
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil {
				return // closed
			}
		case <-time.After(30 * time.Second):
			c.ssh.Close()
			return
		}
	}
}

func (c *Client) signers(cfg Config) ([]ssh.Signer, error) {
	var out []ssh.Signer
	var keyErr error
	if cfg.Identity != "" {
		b, err := os.ReadFile(cfg.Identity)
		switch {
		case err == nil:
			s, err := ssh.ParsePrivateKey(b)
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				keyErr = fmt.Errorf("identity %s is protected by a passphrase: load it into ssh-agent (ssh-add %s) and set SSH_AUTH_SOCK", cfg.Identity, cfg.Identity)
			} else if err != nil {
				return nil, fmt.Errorf("identity %s: %w", cfg.Identity, err)
			} else {
				out = append(out, s)
			}
		case errors.Is(err, fs.ErrNotExist):
			keyErr = fmt.Errorf("identity %s does not exist (make one with ssh-keygen -t ed25519 -f %s, or use ssh-agent)", cfg.Identity, cfg.Identity)
		default:
			return nil, fmt.Errorf("identity: %w", err)
		}
	}
	if cfg.AgentSocket != "" {
		conn, err := net.Dial("unix", cfg.AgentSocket)
		if err == nil {
			c.agentConn = conn
			if as, err := agent.NewClient(conn).Signers(); err == nil {
				out = append(out, as...)
			}
		}
	}
	if len(out) == 0 {
		if keyErr == nil {
			keyErr = errors.New("no SSH key: set [edge] identity or run ssh-agent")
		}
		c.closeAgent()
		return nil, keyErr
	}
	return out, nil
}

func (c *Client) closeAgent() {
	if c.agentConn != nil {
		c.agentConn.Close()
	}
}

// Put uploads the local file to name in the folder: to TempName(name), its
// remote size checked and fsynced (fsync@openssh.com) where offered, then
// renamed into place (posix-rename@openssh.com where offered, so it
// replaces atomically). progress, when not nil, gets bytes as they go.
func (c *Client) Put(ctx context.Context, localPath, name string, progress func(int64)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// The library takes no context: a cancelled run closes the connection.
	defer context.AfterFunc(ctx, func() { c.ssh.Close() })()
	src, err := os.Open(localPath)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	tmp := path.Join(c.dir, TempName(name))
	final := path.Join(c.dir, name)
	if err := c.put(src, st.Size(), tmp, progress); err != nil {
		return c.fail(ctx, fmt.Errorf("upload %s to %s:%s: %w", name, c.addr, tmp, err))
	}
	rst, err := c.sftp.Stat(tmp)
	if err != nil {
		return c.fail(ctx, fmt.Errorf("check %s:%s: %w", c.addr, tmp, err))
	}
	if rst.Size() != st.Size() {
		return fmt.Errorf("%s:%s has %d bytes after upload, %s has %d", c.addr, tmp, rst.Size(), localPath, st.Size())
	}
	return c.rename(ctx, tmp, final)
}

func (c *Client) rename(ctx context.Context, tmp, final string) error {
	var err error
	if c.posixRename {
		err = c.sftp.PosixRename(tmp, final)
	} else {
		// Plain SFTP rename refuses to replace; a final name here is a
		// leftover of the same batch (the caller checked its size).
		if rerr := c.sftp.Remove(final); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return c.fail(ctx, fmt.Errorf("remove %s:%s: %w", c.addr, final, rerr))
		}
		err = c.sftp.Rename(tmp, final)
	}
	if err != nil {
		return c.fail(ctx, fmt.Errorf("rename %s:%s into place: %w", c.addr, tmp, err))
	}
	return nil
}

func (c *Client) put(src *os.File, size int64, tmp string, progress func(int64)) error {
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return err
	}
	// sizedReader keeps the size visible so the library writes with many
	// requests in flight instead of one round trip per 32 KiB.
	if _, err := f.ReadFrom(&sizedReader{r: src, size: size, progress: progress}); err != nil {
		f.Close()
		return err
	}
	if c.fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync: %w", err)
		}
	}
	return f.Close()
}

// Stream starts uploading name as its bytes are written to the returned
// writer, to TempName(name). Close waits for the upload, checks the remote
// size against the bytes written, fsyncs where offered and renames into
// place. Cancelling ctx before Close abandons the upload: the temporary
// file stays (the loader ignores it; the next upload replaces it).
func (c *Client) Stream(ctx context.Context, name string, progress func(int64)) (io.WriteCloser, error) {
	tmp := path.Join(c.dir, TempName(name))
	f, err := c.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, c.fail(ctx, fmt.Errorf("upload %s to %s:%s: %w", name, c.addr, tmp, err))
	}
	pr, pw := io.Pipe()
	s := &stream{c: c, ctx: ctx, f: f, pw: pw, tmp: tmp, final: path.Join(c.dir, name), done: make(chan error, 1)}
	s.stop = context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	go func() {
		// Size -1: unknown length, still many writes in flight.
		_, err := f.ReadFrom(&sizedReader{r: pr, size: -1, progress: progress})
		pr.CloseWithError(err) // unblock the writer when the upload fails
		s.done <- err
	}()
	return s, nil
}

type stream struct {
	c          *Client
	ctx        context.Context
	f          *pkgsftp.File
	pw         *io.PipeWriter
	tmp, final string
	n          int64
	done       chan error
	stop       func() bool
}

func (s *stream) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	s.n += int64(n)
	return n, err
}

func (s *stream) Close() error {
	s.pw.Close()
	err := <-s.done
	s.stop()
	if err == nil && s.ctx.Err() != nil {
		err = s.ctx.Err()
	}
	if err == nil && s.c.fsync {
		if err = s.f.Sync(); err != nil {
			err = fmt.Errorf("fsync: %w", err)
		}
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.c.fail(s.ctx, fmt.Errorf("upload to %s:%s: %w", s.c.addr, s.tmp, err))
	}
	st, err := s.c.sftp.Stat(s.tmp)
	if err != nil {
		return s.c.fail(s.ctx, fmt.Errorf("check %s:%s: %w", s.c.addr, s.tmp, err))
	}
	if st.Size() != s.n {
		return fmt.Errorf("%s:%s has %d bytes after upload, %d were written", s.c.addr, s.tmp, st.Size(), s.n)
	}
	return s.c.rename(s.ctx, s.tmp, s.final)
}

type sizedReader struct {
	r        io.Reader
	size     int64
	progress func(int64)
}

func (s *sizedReader) Size() int64 { return s.size }

func (s *sizedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.progress != nil {
		s.progress(int64(n))
	}
	return n, err
}

// ErrConnectionLost marks errors of a connection that dropped (server
// killed, network cut): worth another try.
var ErrConnectionLost = errors.New("connection to the SFTP server lost")

// fail prefers the context's error (a cancelled run closes the connection,
// and the library then reports a lost connection) and marks lost
// connections with ErrConnectionLost.
func (c *Client) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if errors.Is(err, pkgsftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	return err
}

// Stat describes name in the folder; fs.ErrNotExist when it is not there.
func (c *Client) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := c.sftp.Stat(path.Join(c.dir, name))
	if err != nil {
		return nil, c.fail(ctx, fmt.Errorf("stat %s:%s: %w", c.addr, path.Join(c.dir, name), err))
	}
	return fi, nil
}

// Close ends the SFTP session and the SSH connection.
func (c *Client) Close() error {
	if c.stop != nil {
		c.stop()
	}
	var err error
	if c.sftp != nil {
		err = c.sftp.Close()
	}
	if c.ssh != nil {
		if cerr := c.ssh.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	c.closeAgent()
	return err
}

// String names the destination in messages.
func (c *Client) String() string { return "sftp://" + c.addr + "/" + strings.TrimPrefix(c.dir, "/") }
