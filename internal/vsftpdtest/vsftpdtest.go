// Package vsftpdtest runs a real vsftpd for tests: /usr/sbin/vsftpd in the
// foreground on 127.0.0.1, on a free port, from a throwaway config under
// t.TempDir(), killed at cleanup. It never reads or changes the system's
// own /etc/vsftpd.conf.
//
// Accounts are virtual users (guest_enable): pam_userdb checks them
// against a Berkeley DB made with db_load (Debian db-util) in the test's
// folder, and vsftpd maps every one to the unprivileged "ftp" user (or
// "nobody"), chrooted to its own root. That needs no system user: the
// only thing outside the test's folder is one PAM service file,
// /etc/pam.d/roamsettle-test-<pid>-<random>, created by Start and removed
// at cleanup; Start also removes such files left by test processes that
// are gone (a crashed run). Two other ways were tried and dropped:
// throwaway system users (useradd writes /etc/passwd, /etc/shadow and
// /etc/group, and races with parallel test binaries for their locks), and
// pam_exec with a password script (vsftpd's privileged process takes the
// script's SIGCHLD for its own session child's and hangs the login).
//
// vsftpd runs as root (it chroots and serves PAM logins), so Start skips
// the test when not run as root or when vsftpd or db_load is missing,
// except under CI=true, where that fails.
package vsftpdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
)

// Options shape the server.
type Options struct {
	// TLS makes it an explicit FTPS server (AUTH TLS) that requires TLS
	// for every login and data connection, with TLS session reuse on the
	// data channel (vsftpd's default), and a self-signed certificate for
	// IP 127.0.0.1; Server.CAFile trusts it.
	TLS bool
	// ISPs adds one account per ISP id, each confined (chroot) to
	// Root/<ISP>, which Start makes.
	ISPs []string
	// Root is the folder the operator account sees as "/"; empty means a
	// new folder under t.TempDir(). Give an earlier server's Root to
	// serve the same files again.
	Root string
	// PassivePorts is how many passive data ports to open, a range of
	// free ports; 0 means 8.
	PassivePorts int
}

// Account is a login on the server.
type Account struct {
	User, Password string
	Root           string // the local folder the account sees as "/"
}

// Server is a running vsftpd.
type Server struct {
	Host     string // 127.0.0.1
	Port     int
	Root     string // the operator's root; ISP folders are below it
	CAFile   string // PEM certificate a client trusts (self-signed: its own CA); "" without TLS
	Operator Account
	ISP      map[string]Account // by ISP id
	Dir      string             // config, user database, certificate, logs
	Log      string             // vsftpd's log: every command and reply (passwords hidden)

	t      testing.TB
	bin    string
	config string
	cmd    *exec.Cmd
	done   chan struct{}
}

// pamPrefix names the PAM service files Start creates.
const pamPrefix = "roamsettle-test-"

var ispName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Start starts vsftpd and waits until it greets. It stops the server and
// removes its PAM service file at cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := testbin.Require(t, "vsftpd", "/usr/sbin/vsftpd")
	dbLoad := testbin.Require(t, "db_load", "/usr/bin/db_load")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("vsftpdtest: vsftpd needs root (chroot, PAM logins); CI runs the tests as root")
		}
		t.Skip("vsftpdtest: vsftpd needs root (chroot, PAM logins)")
	}
	guest, err := user.Lookup("ftp")
	if err != nil {
		if guest, err = user.Lookup("nobody"); err != nil {
			t.Fatalf("vsftpdtest: no ftp or nobody user to map logins to: %v", err)
		}
	}
	uid, _ := strconv.Atoi(guest.Uid)
	gid, _ := strconv.Atoi(guest.Gid)

	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Dir: dir, Log: filepath.Join(dir, "vsftpd.log"), ISP: map[string]Account{}, t: t, bin: bin}
	s.Root = o.Root
	if s.Root == "" {
		s.Root = filepath.Join(t.TempDir(), "ftp")
	}
	mkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	mkdir(s.Root)
	s.Operator = Account{User: "operator", Password: randomHex(t), Root: s.Root}
	accounts := []Account{s.Operator}
	for _, isp := range o.ISPs {
		if !ispName.MatchString(isp) || isp == s.Operator.User {
			t.Fatalf("vsftpdtest: bad ISP id %q", isp)
		}
		a := Account{User: isp, Password: randomHex(t), Root: filepath.Join(s.Root, isp)}
		mkdir(a.Root)
		s.ISP[isp] = a
		accounts = append(accounts, a)
	}
	// The guest user must reach its chroot; t.TempDir()'s folders are 0700.
	for _, a := range accounts {
		openPath(t, a.Root)
	}

	// One file per account (user_config_dir) sets its root; pam_userdb
	// checks the passwords.
	users := filepath.Join(dir, "users")
	if err := os.Mkdir(users, 0o755); err != nil {
		t.Fatal(err)
	}
	var db strings.Builder
	for _, a := range accounts {
		if err := os.WriteFile(filepath.Join(users, a.User), []byte("local_root="+a.Root+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&db, "%s\n%s\n", a.User, a.Password)
	}
	dbBase := filepath.Join(dir, "logins")
	load := exec.Command(dbLoad, "-T", "-t", "hash", dbBase+".db")
	load.Stdin = strings.NewReader(db.String())
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("vsftpdtest: db_load: %v\n%s", err, out)
	}
	pam := pamService(t, dbBase)

	// vsftpd's unprivileged processes chroot into an empty, root-owned
	// folder; without it every login fails with "500 OOPS".
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o555); err != nil {
		t.Fatal(err)
	}
	n := o.PassivePorts
	if n <= 0 {
		n = 8
	}
	s.Port = freeRange(t, n+1)
	pasvMin := s.Port + 1
	cfg := fmt.Sprintf(`# Throwaway vsftpd for a test (roamsettle internal/vsftpdtest).
# listen and listen_ipv6 both YES makes vsftpd exit 2 without a word.
listen=YES
listen_ipv6=NO
background=NO
listen_address=127.0.0.1
listen_port=%d
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
guest_enable=YES
guest_username=%s
virtual_use_local_privs=YES
user_config_dir=%s
pam_service_name=%s
chroot_local_user=YES
allow_writeable_chroot=YES
secure_chroot_dir=%s
pasv_enable=YES
pasv_min_port=%d
pasv_max_port=%d
delay_failed_login=0
delay_successful_login=0
max_login_fails=1
log_ftp_protocol=YES
xferlog_enable=YES
vsftpd_log_file=%s
`, s.Port, guest.Username, users, pam, empty, pasvMin, pasvMin+n-1, s.Log)
	if o.TLS {
		cert, key := SelfSigned(t, dir, "server")
		s.CAFile = cert
		cfg += fmt.Sprintf(`ssl_enable=YES
rsa_cert_file=%s
rsa_private_key_file=%s
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
ssl_ciphers=HIGH
`, cert, key)
	}
	s.config = filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// pamService writes a PAM service file for this server and removes it at
// cleanup; it first removes files left by test processes that are gone.
func pamService(t testing.TB, db string) string {
	t.Helper()
	ents, _ := os.ReadDir("/etc/pam.d")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), pamPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || syscall.Kill(pid, 0) == syscall.ESRCH {
			os.Remove(filepath.Join("/etc/pam.d", e.Name()))
		}
	}
	name := fmt.Sprintf("%s%d-%s", pamPrefix, os.Getpid(), randomHex(t)[:8])
	p := filepath.Join("/etc/pam.d", name)
	body := fmt.Sprintf("# roamsettle test vsftpd (internal/vsftpdtest); removed when the test ends\nauth required pam_userdb.so db=%s\naccount required pam_userdb.so db=%s\n", db, db)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatalf("vsftpdtest: PAM service file: %v", err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return name
}

// openPath lets others traverse the folders above p that the tests made
// (under the temporary folder), so the guest user reaches p.
func openPath(t testing.TB, p string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(p); strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// SelfSigned writes a self-signed ECDSA certificate for IP 127.0.0.1 (in
// subjectAltName: Go checks only that, never the common name) and its key
// to dir, as name.pem and name.key, and returns their paths. The
// certificate is its own CA: a client trusts the server with it.
func SelfSigned(t testing.TB, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "127.0.0.1", Organization: []string{"roamsettle test " + name}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// URL is the ftp:// (ftps:// with TLS) URL of folder, as seen by account
// a (relative to its root; "" for the root itself), without the password.
func (s *Server) URL(a Account, folder string) *url.URL {
	scheme := "ftp"
	if s.CAFile != "" {
		scheme = "ftps"
	}
	return &url.URL{Scheme: scheme, User: url.User(a.User), Host: s.Addr(), Path: "/" + strings.TrimPrefix(folder, "/")}
}

// Restart starts vsftpd again with the same config, port and files
// (after Kill), and waits until it greets.
func (s *Server) Restart() {
	s.t.Helper()
	out, err := os.OpenFile(filepath.Join(s.Dir, "vsftpd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(s.bin, s.config)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start vsftpd: %v", err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(10 * time.Second)
	for !testbin.Greets(s.Addr(), "220") {
		select {
		case <-s.done:
			s.t.Fatalf("vsftpd exited at start (%v):\n%s%s", cmd.ProcessState, s.output(), s.LogText())
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("vsftpd did not greet within 10s:\n%s%s", s.output(), s.LogText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills vsftpd and every session process it started, the way a crash
// would: connections drop mid-transfer. Restart brings it back.
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

// Pause stops vsftpd and its sessions (SIGSTOP) without closing a
// connection: a server that hangs, for timeouts. Resume lets it go on.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	for _, p := range testbin.Descendants(s.cmd.Process.Pid) {
		syscall.Kill(p, sig)
	}
}

// LogText returns what vsftpd logged so far, for failure messages and for
// tests that check what a client sent.
func (s *Server) LogText() string {
	b, _ := os.ReadFile(s.Log)
	return string(b)
}

func (s *Server) output() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "vsftpd.out"))
	return string(b)
}

func randomHex(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// freeRange finds n consecutive free ports and returns the first: the
// control port and the passive data ports. They are picked below the
// kernel's ephemeral range, so no client connection takes one between the
// check and vsftpd's bind (or its Restart); another server of the same
// kind may, and then vsftpd tries the next passive port.
func freeRange(t testing.TB, n int) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	const first = 20000
	if low-n <= first {
		t.Fatalf("vsftpdtest: the ephemeral ports start at %d, no room below", low)
	}
	for try := 0; try < 100; try++ {
		r, err := rand.Int(rand.Reader, big.NewInt(int64(low-n-first)))
		if err != nil {
			t.Fatal(err)
		}
		base := first + int(r.Int64())
		ok := true
		var ls []net.Listener
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("vsftpdtest: no %d consecutive free ports", n)
	return 0
}
