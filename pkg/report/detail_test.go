package report

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
)

// The sums spilled to run files and merged are the sums kept in memory,
// in the same order, and the runs are gone afterwards.
func TestDetailSumsSpill(t *testing.T) {
	type row struct {
		k detailKey
		a agg
	}
	collect := func(limit int) ([]row, *detailSums) {
		dir := t.TempDir()
		d := newDetailSums(dir, limit)
		rng := rand.New(rand.NewPCG(7, 8))
		for i := 0; i < 5000; i++ {
			k := detailKey{fmt.Sprintf("user%d@isp%d.net", rng.IntN(300), rng.IntN(3)), fmt.Sprintf("ISP%d", rng.IntN(3)), fmt.Sprintf("ISP%d", rng.IntN(3))}
			l := &Line{Duration: int64(rng.IntN(4000)), Billed: int64(rng.IntN(4000)), Provider: int64(rng.IntN(900)) - 100, Consumer: int64(rng.IntN(900)), Fee: 1}
			if err := d.add(k, l); err != nil {
				t.Fatal(err)
			}
		}
		if limit < 100 && len(d.runs) < 10 {
			t.Fatalf("limit %d: %d runs, want many", limit, len(d.runs))
		}
		var out []row
		if err := d.each(func(k detailKey, a *agg) error { out = append(out, row{k, *a}); return nil }); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 0 {
			t.Fatalf("limit %d: %d entries left beside the folder", limit, len(ents))
		}
		return out, d
	}
	mem, _ := collect(1 << 20)
	spilled, _ := collect(37)
	if len(mem) < 1000 {
		t.Fatalf("only %d rows", len(mem))
	}
	for i := 1; i < len(mem); i++ {
		if cmpKey(mem[i-1].k, mem[i].k) >= 0 {
			t.Fatalf("row %d out of order: %v then %v", i, mem[i-1].k, mem[i].k)
		}
	}
	if !reflect.DeepEqual(mem, spilled) {
		t.Fatal("spilled and merged sums differ from the sums kept in memory")
	}
}
