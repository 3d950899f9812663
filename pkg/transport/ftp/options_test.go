package ftp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, addr, root string
		tls             bool
	}{
		{"ftp://settle@ftp.example.net/", "ftp.example.net:21", "", false},
		{"ftp://settle@ftp.example.net", "ftp.example.net:21", "", false},
		{"ftps://settle@ftp.example.net/", "ftp.example.net:21", "", true},
		{"ftps://settle@ftp.example.net:2121/reports/monthly/", "ftp.example.net:2121", "reports/monthly", true},
		{"ftp://settle@ftp.example.net/%2Fsrv/ftp/reports", "ftp.example.net:21", "/srv/ftp/reports", false},
		{"ftp://settle@[2001:db8::1]:21/x", "[2001:db8::1]:21", "x", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		c, err := parse(Options{URL: u})
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		if c.addr != tc.addr || c.rootRel != tc.root || (c.tls != nil) != tc.tls || c.user != "settle" {
			t.Errorf("%s: addr %q root %q tls %v user %q", tc.url, c.addr, c.rootRel, c.tls != nil, c.user)
		}
		if c.tls != nil && (c.tls.ServerName != u.Hostname() || c.tls.RootCAs != nil) {
			t.Errorf("%s: TLS server name %q, roots %v", tc.url, c.tls.ServerName, c.tls.RootCAs)
		}
		if c.String() != u.Redacted() {
			t.Errorf("%s: String() = %s", tc.url, c)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644)
	for _, tc := range []struct {
		url, ca, want string
	}{
		{"sftp://settle@host/", "", "want ftp://"},
		{"http://settle@host/", "", "want ftp://"},
		{"ftp://host/", "", "no user"},
		{"ftp://settle:secret@host/", "", "password"},
		{"ftp://settle@/x", "", "no host"},
		{"ftp://settle@host/x?type=i", "", "query"},
		{"ftp://settle@host/../etc", "", ".."},
		{"ftp://settle@host/", notPEM, "ftps:// only"},
		{"ftps://settle@host/", notPEM, "no PEM certificate"},
		{"ftps://settle@host/", filepath.Join(t.TempDir(), "missing.pem"), "CA file"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parse(Options{URL: u, CAFile: tc.ca})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s (CA %q): got %v, want an error with %q", tc.url, tc.ca, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the message shows the password: %v", tc.url, err)
		}
	}
	if _, err := parse(Options{}); err == nil {
		t.Error("no URL accepted")
	}
}

func TestParseDefaults(t *testing.T) {
	u, _ := url.Parse("ftps://settle@host/")
	c, err := parse(Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != 30*time.Second || c.retries != 3 || c.backoff != time.Second {
		t.Errorf("defaults: timeout %v retries %d backoff %v", c.timeout, c.retries, c.backoff)
	}
	c, _ = parse(Options{URL: u, Timeout: time.Second, Retries: -1, Backoff: time.Millisecond})
	if c.timeout != time.Second || c.retries != 0 || c.backoff != time.Millisecond {
		t.Errorf("set: timeout %v retries %d backoff %v", c.timeout, c.retries, c.backoff)
	}
	c, _ = parse(Options{URL: u, Retries: 5})
	if c.retries != 5 {
		t.Errorf("retries %d", c.retries)
	}
}

func TestTempName(t *testing.T) {
	for name, want := range map[string]string{
		"MANIFEST":              ".MANIFEST.part",
		"ISPA/2026-07/MANIFEST": "ISPA/2026-07/.MANIFEST.part",
	} {
		if got := TempName(name); got != want {
			t.Errorf("TempName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestKindOf(t *testing.T) {
	reset := fmt.Errorf("write tcp: %w", syscall.ECONNRESET)
	for _, tc := range []struct {
		err  error
		want kind
	}{
		{&textproto.Error{Code: 530, Msg: "Login incorrect."}, kindRefused},
		{&textproto.Error{Code: 522, Msg: "SSL connection failed: session reuse required"}, kindRefused},
		{&textproto.Error{Code: 421, Msg: "Timeout."}, kindTransient},
		{&textproto.Error{Code: 452, Msg: "Insufficient storage"}, kindTransient},
		{&textproto.Error{Code: 550, Msg: "Permission denied."}, kindPermanent},
		{&textproto.Error{Code: 553, Msg: "Could not create file."}, kindPermanent},
		{io.EOF, kindTransient},
		{reset, kindTransient},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), kindTransient},
		{transient{errors.New("size differs")}, kindTransient},
		{fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), kindRefused},
		// A dropped TLS data connection: network fault with TLS noise.
		{errors.Join(reset, errors.New("tls: failed to send closeNotify alert (but connection was closed anyway)")), kindTransient},
		// On a session that was up, TLS errors are a broken connection:
		// a dying vsftpd writes "500 OOPS: ..." in plain text into it.
		{errors.Join(io.EOF, tls.RecordHeaderError{Msg: "tls: received record with version 3030 when expecting version 303", RecordHeader: [5]byte{'5', '0', '0', ' ', 'O'}}), kindTransient},
		{errors.New("tls: no cipher suite supported by both client and server"), kindTransient},
		{fmt.Errorf("login: %w", ErrRefused), kindRefused},
		{errors.New("open /x: no such file"), kindUnknown},
	} {
		if got := kindOf(tc.err); got != tc.want {
			t.Errorf("kindOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// While connecting, TLS errors are the server's TLS setup: refused.
func TestConnectErrors(t *testing.T) {
	u, _ := url.Parse("ftps://settle@host/")
	c, err := parse(Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	reset := fmt.Errorf("read tcp: %w", syscall.ECONNRESET)
	for _, tc := range []struct {
		err     error
		refused bool
		text    string
	}{
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true, "not trusted by the system's CA certificates"},
		{tls.RecordHeaderError{Msg: "tls: first record does not look like a TLS handshake", RecordHeader: [5]byte{'5', '0', '0', ' ', 'O'}}, true, `sent "500 O"`},
		{errors.New("tls: server selected unsupported protocol version 301"), true, "TLS handshake"},
		{tls.AlertError(40), true, "TLS handshake"},
		{errors.Join(reset, errors.New("tls: failed to send closeNotify alert")), false, "reset"},
		{io.EOF, false, "EOF"},
	} {
		err := c.wrapConnErr("login", tc.err)
		if errors.Is(err, ErrRefused) != tc.refused || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%v: got %v (refused %v), want refused %v with %q", tc.err, err, errors.Is(err, ErrRefused), tc.refused, tc.text)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"MANIFEST", "ISPA/2026-07/MANIFEST", ".MANIFEST.part"} {
		if err := checkName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "/etc/passwd", "../x", "a/../../x", "a//b", "a/"} {
		if checkName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
