package acct

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"layeh.com/radius/rfc2866"
)

// BenchmarkServe drives the in-process listener with 100 concurrent NAS
// sockets (Start/Stop pairs, each answered before the socket sends again)
// and reports acknowledged requests per second, every one durable.
// bench/listen.sh compares the real binary with FreeRADIUS.
func BenchmarkServe(b *testing.B) {
	edge := testEdge(b)
	s, err := listen(edge, discardLog())
	if err != nil {
		b.Fatal(err)
	}
	stop := serveInBackground(s)
	defer stop()
	addr := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := 0; w < 100; w++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				st := rfc2866.AcctStatusType_Value_Start
				if i%2 == 0 {
					st = rfc2866.AcctStatusType_Value_Stop
				}
				req := encode(b, acctRequest(testSecret, st, fmt.Sprint("bench", (i+1)/2)))
				c.WriteToUDPAddrPort(req, addr)
				if _, err := c.Read(buf); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer() // the last checkpoint at stop is not part of answering
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
