// Package sshdtest runs a real OpenSSH server for tests: sshd -D -e on
// 127.0.0.1 with a throwaway host key and client key, everything under
// t.TempDir(). It never touches /etc/ssh or ~/.ssh.
package sshdtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
)

// Server is a running sshd.
type Server struct {
	Host       string // 127.0.0.1
	Port       int
	Dir        string // the server's temp folder (config, keys, log)
	User       string // the user to log in as (the one running the test)
	ClientKey  string // private key whose public half is authorized
	KnownHosts string // known_hosts file that trusts this server's host key
	HostKey    string // the host's ed25519 public key, authorized_keys form
	// ECDSAHostKey is a second host key the server also offers; KnownHosts
	// holds only the ed25519 one, as after `ssh-keyscan -t ed25519`.
	ECDSAHostKey string
	Log          string // sshd's stderr

	t         testing.TB
	sshd      string
	hostPriv  string
	ecdsaPriv string
	cmd       *exec.Cmd
	done      chan struct{}
}

// Start starts sshd on a free loopback port. It skips the test when sshd
// is not installed (fails under CI) and stops the server at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	sshd := testbin.Require(t, "sshd", "/usr/sbin/sshd")
	testbin.Require(t, "ssh-keygen", "/usr/bin/ssh-keygen")
	sftpServer := "/usr/lib/openssh/sftp-server"
	if _, err := os.Stat(sftpServer); err != nil {
		sftpServer = "internal-sftp"
	}
	// sshd run as root insists on its privilege separation folder; the
	// openssh-server package creates it at boot, containers often lack it.
	if os.Geteuid() == 0 {
		if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
			if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
				t.Fatalf("sshdtest: /run/sshd: %v", err)
			}
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Dir: dir, User: u.Username, t: t, sshd: sshd,
		Log: filepath.Join(dir, "sshd.log")}
	s.hostPriv, s.HostKey = s.NewKey("host_ed25519")
	s.ecdsaPriv, s.ECDSAHostKey = s.newKey("host_ecdsa", "ecdsa")
	s.ClientKey, _ = s.NewKey("client_ed25519")
	pub, err := os.ReadFile(s.ClientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Port = freePort(t)
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
StrictModes no
UsePAM no
UseDNS no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100
LogLevel VERBOSE
Subsystem sftp %s
`, s.Port, s.hostPriv, s.ecdsaPriv, filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), sftpServer)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(s.KnownHostsLine(s.HostKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// NewKey makes an ed25519 key pair in the server's folder and returns the
// private key's path and the public key in authorized_keys form.
func (s *Server) NewKey(name string) (priv, pub string) {
	s.t.Helper()
	return s.newKey(name, "ed25519")
}

func (s *Server) newKey(name, typ string) (priv, pub string) {
	s.t.Helper()
	priv = filepath.Join(s.Dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", name, "-f", priv).CombinedOutput()
	if err != nil {
		s.t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(priv + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	return priv, strings.TrimSpace(string(b))
}

// KnownHostsLine is a known_hosts line for this server with the given key,
// in the form ssh-keyscan writes it.
func (s *Server) KnownHostsLine(pubKey string) string {
	f := strings.Fields(pubKey)
	return fmt.Sprintf("[%s]:%d %s %s\n", s.Host, s.Port, f[0], f[1])
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL is the sftp:// URL of an absolute folder on the server.
func (s *Server) URL(folder string) *url.URL {
	return &url.URL{Scheme: "sftp", User: url.User(s.User), Host: s.Addr(), Path: folder}
}

// Restart starts sshd again on the same port with the same keys (after
// Kill), and waits until it greets.
func (s *Server) Restart() {
	s.t.Helper()
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(s.sshd, "-D", "-e", "-f", filepath.Join(s.Dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start sshd: %v", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if testbin.Greets(s.Addr(), "SSH-") {
			return
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.Log)
			s.t.Fatalf("sshd exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.Log)
			s.t.Fatalf("sshd did not start within 10s:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills sshd and every session process it started (they run in
// sessions of their own, so a process-group kill would miss them), the way
// a crash or a pulled plug would: connections drop mid-transfer.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	testbin.KillTree(s.cmd.Process)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	s.cmd = nil
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// LogText returns what sshd logged so far, for failure messages.
func (s *Server) LogText() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}
