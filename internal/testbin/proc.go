package testbin

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Descendants lists the processes below pid, from /proc. Servers such as
// sshd and vsftpd run each session in a session of its own (setsid), so a
// process-group kill would miss them; a test that kills a server the way
// a crash would kills these too.
func Descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces; the
		// parent pid is the second field after it.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[p] = pp
			}
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// KillTree kills p and every process below it (SIGKILL), the way a crash
// or a pulled plug would: connections drop mid-transfer. A stopped one
// (SIGSTOP) is let go on so it can die.
func KillTree(p *os.Process) {
	pids := Descendants(p.Pid)
	p.Kill()
	for _, d := range pids {
		syscall.Kill(d, syscall.SIGKILL)
	}
	p.Signal(syscall.SIGCONT)
}
