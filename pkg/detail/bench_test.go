package detail

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkParseMap is the import's own cost per record, without the spool.
func BenchmarkParseMap(b *testing.B) {
	data := []byte(sessions(0, 5000))
	m, err := NewMapper(testEdge(""))
	if err != nil {
		b.Fatal(err)
	}
	im := &importer{m: m}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		p := NewParser(bytes.NewReader(data), "d", 0, 0)
		for {
			e, err := p.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := im.record(e, "d"); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
