// Package freeradiustest runs a real FreeRADIUS 3 server for tests: one
// accounting listener on a free loopback port that writes every request
// to one detail file, from a throwaway configuration under t.TempDir().
// It never reads the system's own /etc/freeradius.
package freeradiustest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
)

// Secret is the shared secret of the one client, 127.0.0.1.
const Secret = "testing123"

// radiusdConf is a minimal FreeRADIUS 3 server that writes every
// accounting request to one detail file, with the packet header
// (Packet-Src-IP-Address) as sites often configure it.
const radiusdConf = `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {{dir}}
sbindir = /usr/sbin
logdir = {{dir}}
raddbdir = {{dir}}
radacctdir = {{dir}}/radacct
name = freeradius
confdir = {{dir}}
run_dir = {{dir}}
db_dir = {{dir}}
libdir = /usr/lib/freeradius
pidfile = {{dir}}/freeradius.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 100000
hostname_lookups = no
log {
	destination = stderr
}
security {
	allow_core_dumps = no
}
client localhost {
	ipaddr = 127.0.0.1
	secret = {{secret}}
}
modules {
	detail {
		filename = ${radacctdir}/detail
		header = "%t"
		permissions = 0600
		log_packet_header = yes
	}
}
server default {
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = {{port}}
	}
	accounting {
		detail
	}
}
`

// Server is a running FreeRADIUS.
type Server struct {
	Addr   string // 127.0.0.1:port, UDP
	Dir    string // configuration and logs
	Detail string // the detail file it writes

	out *testbin.Output
	cmd *exec.Cmd
}

// Start starts FreeRADIUS and waits until it is ready. It skips the test
// when freeradius is not installed (fails under CI) and kills the server
// at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	radiusd := testbin.Require(t, "freeradius", "/usr/sbin/freeradius")
	dir := t.TempDir()
	port := testbin.FreeUDPPort(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port), "{{secret}}", Secret).Replace(radiusdConf)
	for name, data := range map[string]string{"radiusd.conf": conf, "dictionary": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "radacct"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, Detail: filepath.Join(dir, "radacct", "detail"), out: &testbin.Output{}}
	s.cmd = exec.Command(radiusd, "-f", "-X", "-d", dir, "-n", "radiusd")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Dates in the detail file in UTC on any host: the importer reads
	// another zone's name only when it is the edge's own zone.
	s.cmd.Env = append(os.Environ(), "TZ=UTC")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.out.String(), "Ready to process requests") {
		select {
		case <-done:
			t.Fatalf("freeradius exited at start:\n%s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("freeradius did not start:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// LogText returns what FreeRADIUS printed so far (-X: every request).
func (s *Server) LogText() string { return s.out.String() }
