package testbin

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// FreeUDPPort returns a UDP port that was free on 127.0.0.1 a moment ago,
// for a RADIUS server a test starts.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Greets says whether a TCP server at addr answers with a first line that
// starts with prefix ("SSH-", "220"): started, not merely listening.
func Greets(addr, prefix string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, prefix)
}
