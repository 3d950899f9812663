package testbin

import (
	"net"
	"testing"
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
