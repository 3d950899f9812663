package ftp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goftp "github.com/jlaffaye/ftp"

	"roamsettle/internal/transporttest"
	"roamsettle/internal/vsftpdtest"
	"roamsettle/pkg/transport/ftp"
)

var (
	_ transporttest.Transport = (*ftp.Client)(nil)
	_ transporttest.Reader    = (*ftp.Client)(nil)
)

// dial connects as account a to its root, failing the test on an error;
// fast retries so a test that needs them takes milliseconds.
func dial(t *testing.T, s *vsftpdtest.Server, a vsftpdtest.Account, folder string) *ftp.Client {
	t.Helper()
	c, err := ftp.Dial(context.Background(), options(s, a, folder))
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, s.LogText())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func options(s *vsftpdtest.Server, a vsftpdtest.Account, folder string) ftp.Options {
	return ftp.Options{URL: s.URL(a, folder), Password: a.Password, CAFile: s.CAFile,
		Timeout: 5 * time.Second, Retries: 2, Backoff: 10 * time.Millisecond}
}

func TestConformance(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "ftp"
		if tls {
			name = "ftps"
		}
		t.Run(name, func(t *testing.T) {
			transporttest.Run(t, func(t *testing.T) (transporttest.Transport, string) {
				s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: tls})
				return dial(t, s, s.Operator, ""), s.Root
			})
		})
	}
}

// A folder below the login folder as the root: made by Dial, every name
// lands under it.
func TestRootFolderMade(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{})
	c := dial(t, s, s.Operator, "/publish/monthly")
	src := writeFile(t, []byte("x,y\n"))
	if err := c.Put(context.Background(), src, "ISPA/2026-07/detail.csv", nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(s.Root, "publish", "monthly", "ISPA", "2026-07", "detail.csv")); err != nil || string(b) != "x,y\n" {
		t.Fatalf("%q %v", b, err)
	}
}

func TestWrongPasswordRefusedAtOnce(t *testing.T) {
	for _, tls := range []bool{false, true} {
		s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: tls})
		o := options(s, s.Operator, "")
		o.Password = "not-" + o.Password
		o.Backoff = 5 * time.Second // a retry would show in the time taken
		start := time.Now()
		c, err := ftp.Dial(context.Background(), o)
		if err == nil {
			c.Close()
			t.Fatal("login with a wrong password succeeded")
		}
		if !errors.Is(err, ftp.ErrRefused) {
			t.Fatalf("tls %v: got %v, want ErrRefused", tls, err)
		}
		t.Log(err)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v: retried?", d)
		}
		if !strings.Contains(err.Error(), s.Addr()) || !strings.Contains(err.Error(), "530") {
			t.Errorf("message does not name the server and the reply: %v", err)
		}
		if n := strings.Count(s.LogText(), "FAIL LOGIN"); n != 1 {
			t.Errorf("%d failed logins, want 1", n)
		}
	}
}

func TestUntrustedCertificateRefused(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true})
	other, _ := vsftpdtest.SelfSigned(t, t.TempDir(), "other")
	for name, ca := range map[string]string{"another CA file": other, "system roots": ""} {
		t.Run(name, func(t *testing.T) {
			o := options(s, s.Operator, "")
			o.CAFile = ca
			o.Backoff = 5 * time.Second
			start := time.Now()
			c, err := ftp.Dial(context.Background(), o)
			if err == nil {
				c.Close()
				t.Fatal("connected to a server whose certificate is not trusted")
			}
			if !errors.Is(err, ftp.ErrRefused) || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("got %v, want ErrRefused naming the certificate", err)
			}
			t.Log(err)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v: retried?", d)
			}
			if strings.Contains(s.LogText(), "USER operator") {
				t.Fatal("the user name went to a server that is not trusted")
			}
		})
	}
}

func TestTLSAskedServerWithoutTLSRefused(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{})
	o := options(s, s.Operator, "")
	o.URL.Scheme = "ftps"
	o.Backoff = 5 * time.Second
	start := time.Now()
	c, err := ftp.Dial(context.Background(), o)
	if err == nil {
		c.Close()
		t.Fatal("ftps:// went on with a server without TLS")
	}
	if !errors.Is(err, ftp.ErrRefused) || !strings.Contains(err.Error(), "AUTH TLS") {
		t.Fatalf("got %v, want ErrRefused naming AUTH TLS", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v: retried?", d)
	}
	log := s.LogText()
	if strings.Contains(log, `"USER`) || strings.Contains(log, `"PASS`) {
		t.Fatalf("credentials sent in plain text:\n%s", log)
	}
}

// The server dies in the middle of a multi-MB upload: the Put fails, the
// final name never holds a partial file, and a later Put completes it.
func TestServerKilledMidUpload(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "ftp", true: "ftps"}[tls], func(t *testing.T) {
			s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: tls})
			c := dial(t, s, s.Operator, "")
			content := bytes.Repeat([]byte("0123456789abcdef"), 512<<10) // 8 MiB
			src := writeFile(t, content)
			final := filepath.Join(s.Root, "ISPA", "2026-07", "detail.csv")
			var sent int64
			killed := false
			err := c.Put(context.Background(), src, "ISPA/2026-07/detail.csv", func(n int64) {
				sent += n
				if !killed && sent >= 3<<20 {
					killed = true
					s.Kill()
				}
			})
			if err == nil {
				t.Fatal("put succeeded with the server killed")
			}
			if errors.Is(err, ftp.ErrRefused) {
				t.Fatalf("a killed server is not a refusal: %v", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), s.Addr()) || !strings.Contains(err.Error(), "ISPA/2026-07/detail.csv") || !strings.Contains(err.Error(), "3 tries") {
				t.Errorf("message does not name the server, the file and the tries: %v", err)
			}
			if _, err := os.Stat(final); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("final name after a failed put: %v", err)
			}
			s.Restart()
			if err := c.Put(context.Background(), src, "ISPA/2026-07/detail.csv", nil); err != nil {
				t.Fatalf("put after restart: %v", err)
			}
			if got, err := os.ReadFile(final); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("content after the second put: %d bytes, %v", len(got), err)
			}
			if _, err := os.Stat(filepath.Join(s.Root, "ISPA", "2026-07", ".detail.csv.part")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("temporary left behind: %v", err)
			}
		})
	}
}

// A server that comes back while the client waits to retry: the same Put
// goes through on a new connection, and progress counts each byte once.
func TestTransientFaultRetried(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true})
	c := dial(t, s, s.Operator, "")
	content := bytes.Repeat([]byte("roamsettle retry\n"), 300_000) // 5 MB
	src := writeFile(t, content)
	var sent int64
	restarted := false
	err := c.Put(context.Background(), src, "ISPB/2026-07/ISPB_2026-07_DT.txt", func(n int64) {
		sent += n
		if !restarted && sent >= 1<<20 {
			restarted = true
			s.Kill()
			s.Restart()
		}
	})
	if err != nil {
		t.Fatalf("put with one dropped connection: %v\n%s", err, s.LogText())
	}
	if sent != int64(len(content)) {
		t.Errorf("progress counted %d bytes, want %d", sent, len(content))
	}
	got, err := os.ReadFile(filepath.Join(s.Root, "ISPB", "2026-07", "ISPB_2026-07_DT.txt"))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	// The fresh server has a new TLS session cache; Stat and ReadFile go
	// on over the new connection.
	if _, err := c.Stat(context.Background(), "ISPB/2026-07/ISPB_2026-07_DT.txt"); err != nil {
		t.Fatal(err)
	}
}

// A server that stops answering fails the command after the timeout,
// retried like a dropped connection, instead of hanging the run.
func TestHungServerTimesOut(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true})
	o := options(s, s.Operator, "")
	o.Timeout = 300 * time.Millisecond
	o.Retries = 1
	c, err := ftp.Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := writeFile(t, []byte("MANIFEST\n"))
	if err := c.Put(context.Background(), src, "ISPA/2026-07/MANIFEST", nil); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	start := time.Now()
	_, err = c.Stat(context.Background(), "ISPA/2026-07/MANIFEST")
	s.Resume()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() || errors.Is(err, ftp.ErrRefused) {
		t.Fatalf("stat of a hung server: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v for two tries of 300 ms", d)
	}
	if !strings.Contains(err.Error(), "2 tries") {
		t.Errorf("no word of the retry: %v", err)
	}
	t.Log(err)
	// Going on, the client reconnects.
	if fi, err := c.Stat(context.Background(), "ISPA/2026-07/MANIFEST"); err != nil || fi.Size() != 9 {
		t.Fatalf("stat after resume: %v %v", fi, err)
	}
}

// A cancelled context stops an upload in flight.
func TestCancelMidUpload(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{})
	c := dial(t, s, s.Operator, "")
	src := writeFile(t, bytes.Repeat([]byte("x"), 8<<20))
	ctx, cancel := context.WithCancel(context.Background())
	var sent int64
	err := c.Put(ctx, src, "big", func(n int64) {
		if sent += n; sent >= 2<<20 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("final name after a cancelled put")
	}
	// The client reconnects for the next call.
	if err := c.Put(context.Background(), src, "big", nil); err != nil {
		t.Fatal(err)
	}
}

// Per-ISP accounts are confined to their own folder: ISPA's login can
// neither read nor list ISPB's.
func TestISPAccountsConfined(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true, ISPs: []string{"ISPA", "ISPB"}})
	ctx := context.Background()
	op := dial(t, s, s.Operator, "")
	secret := writeFile(t, []byte("ISPB's settlement\n"))
	mine := writeFile(t, []byte("ISPA's settlement\n"))
	if err := op.Put(ctx, secret, "ISPB/2026-07/MANIFEST", nil); err != nil {
		t.Fatal(err)
	}
	if err := op.Put(ctx, mine, "ISPA/2026-07/MANIFEST", nil); err != nil {
		t.Fatal(err)
	}

	a := dial(t, s, s.ISP["ISPA"], "")
	if b, err := a.ReadFile(ctx, "2026-07/MANIFEST", 1<<20); err != nil || string(b) != "ISPA's settlement\n" {
		t.Fatalf("ISPA reading its own MANIFEST: %q %v", b, err)
	}
	for _, name := range []string{"ISPB/2026-07/MANIFEST", "2026-07/../../ISPB/2026-07/MANIFEST"} {
		if b, err := a.ReadFile(ctx, name, 1<<20); err == nil {
			t.Errorf("ISPA read %s: %q", name, b)
		}
	}

	// The library's own client, without the name checks of ours: what
	// the server lets the login do.
	raw, err := goftp.Dial(s.Addr(), goftp.DialWithExplicitTLS(clientTLS(t, s)), goftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Quit()
	if err := raw.Login("ISPA", s.ISP["ISPA"].Password); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/../ISPB/2026-07/MANIFEST", "../ISPB/2026-07/MANIFEST", "/ISPB/2026-07/MANIFEST"} {
		if r, err := raw.Retr(p); err == nil {
			b, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("RETR %s as ISPA: %q", p, b)
		}
	}
	for _, p := range []string{"/", "/..", "..", "/../ISPB", "../ISPB/2026-07"} {
		names, err := raw.NameList(p)
		for _, n := range names {
			if strings.Contains(n, "ISPB") {
				t.Errorf("NLST %s as ISPA shows %q (%v)", p, n, err)
			}
		}
	}
	if err := raw.ChangeDir("/.."); err == nil {
		if dir, _ := raw.CurrentDir(); dir != "/" {
			t.Errorf("CWD /.. as ISPA reached %s", dir)
		}
	}
	if err := raw.Stor("../ISPB/2026-07/MANIFEST", strings.NewReader("forged")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(s.Root, "ISPB", "2026-07", "MANIFEST")); string(b) != "ISPB's settlement\n" {
			t.Fatalf("ISPA overwrote ISPB's MANIFEST: %q", b)
		}
	}
}

func TestConcurrentCallsSerialised(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{})
	c := dial(t, s, s.Operator, "")
	src := writeFile(t, bytes.Repeat([]byte("y"), 256<<10))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := "ISPA/2026-07/f" + string(rune('0'+i))
			if err := c.Put(context.Background(), src, name, nil); err != nil {
				errs <- err
				return
			}
			if _, err := c.Stat(context.Background(), name); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientTLS trusts the server's certificate, with the session cache
// vsftpd's data channel needs.
func clientTLS(t *testing.T, s *vsftpdtest.Server) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: s.Host, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}
