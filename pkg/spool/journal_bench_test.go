package spool

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAddGroup files groups of 100 records (50 Starts of new
// sessions, 50 Stops of the previous group's), the listener's load.
func BenchmarkAddGroup(b *testing.B) {
	for _, mode := range []string{"fsync", "journal"} {
		b.Run(mode, func(b *testing.B) {
			l := Layout{Root: b.TempDir()}
			s, err := OpenStore(l)
			if err != nil {
				b.Fatal(err)
			}
			if mode == "journal" {
				if err := s.UseJournal(); err != nil {
					b.Fatal(err)
				}
			}
			t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
			recs := make([]Record, 100)
			var cp time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k := 0; k < 50; k++ {
					recs[k] = rec(Start, fmt.Sprintf("s%d-%d", i, k), t0, 0)
					recs[50+k] = rec(Stop, fmt.Sprintf("s%d-%d", i-1, k), t0.Add(time.Minute), 60)
				}
				if err := s.Add(recs); err != nil {
					b.Fatal(err)
				}
				if mode == "journal" && i%20 == 19 {
					t := time.Now()
					if err := s.Checkpoint(); err != nil {
						b.Fatal(err)
					}
					if err := <-s.j.cp; err != nil { // wait, to see its cost
						b.Fatal(err)
					}
					s.j.cp = nil
					cp += time.Since(t)
				}
			}
			b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cp.Milliseconds()), "checkpoint-ms")
		})
	}
}
