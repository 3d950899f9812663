package report

import (
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/store"
)

// randomTariffs makes a valid tariffs.csv: a default row, and rows for
// some pairs, some locals (some with a weekend band) and some homes, with
// random rates, increments and minimums.
func randomTariffs(rng *rand.Rand) string {
	ids := []string{"ISPA", "ISPB", "ISPC"}
	rate := func() string { return fmt.Sprintf("0.%04d", rng.IntN(900)+1) }
	row := func(local, home, days string) string {
		return fmt.Sprintf("%s,%s,2026-0%d-01,%s,*,%s,%s,%d,%d\n", local, home, 1+rng.IntN(9), days, rate(), rate(),
			[]int{1, 6, 30, 60}[rng.IntN(4)], []int{0, 0, 30, 60, 120}[rng.IntN(5)])
	}
	out := "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0100,0.0200,60,0\n"
	for _, l := range ids {
		if rng.IntN(2) == 0 {
			out += row(l, "*", "*")
		}
		if rng.IntN(2) == 0 {
			out += row(l, "*", "Sat Sun")
		}
		if rng.IntN(2) == 0 {
			out += row("*", l, "*")
		}
		for _, h := range ids {
			if h != l && rng.IntN(2) == 0 {
				out += row(l, h, "*")
			}
		}
	}
	return out
}

func randomSessions(rng *rand.Rand, n int) []sess {
	users := []string{"a@aimnet.com", "b@aimnet.com", "c@connect.com.au", "d@connect.com", "e@eunet.de"}
	locals := []string{"ISPA", "ISPB", "ISPC"}
	var out []sess
	for len(out) < n {
		u := users[rng.IntN(len(users))]
		l := locals[rng.IntN(len(locals))]
		home := map[string]string{"aimnet.com": "ISPA", "connect.com.au": "ISPB", "connect.com": "ISPB", "eunet.de": "ISPC"}[u[strings.IndexByte(u, '@')+1:]]
		if home == l {
			continue
		}
		start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(31*24*3600)) * time.Second)
		out = append(out, sess{l, u, start, rng.Int64N(7200) + 1})
	}
	return out
}

func parseCents(t *testing.T, s string) int64 {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	u, f, _ := strings.Cut(s, ".")
	n, err1 := strconv.ParseInt(u, 10, 64)
	m, err2 := strconv.ParseInt(f, 10, 64)
	if err1 != nil || err2 != nil || len(f) != 2 {
		t.Fatalf("%q is not an amount with two decimals", s)
	}
	if neg {
		return -(n*100 + m)
	}
	return n*100 + m
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[1:]
}

// TestProperties: over random histories and tariffs, every total of every
// report is the sum of its sessions' stored amounts, the nets of all ISPs
// and the fees sum to zero, and the same history gives the same bytes.
func TestProperties(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			tariffs := randomTariffs(rng)
			sessions := randomSessions(rng, 200)
			var dirs []string
			var snaps []string
			for i := 0; i < 2; i++ {
				w := newWorld(t, tariffs)
				w.put(sessions...)
				if _, logs, err := w.report("2026-10", false); err != nil {
					t.Fatalf("%v\n%s\n%s", err, logs, tariffs)
				}
				dirs = append(dirs, w.dir)
				snaps = append(snaps, strings.ReplaceAll(snapshot(t, w.path()), w.dir, "DIR"))
				if i > 0 {
					continue
				}
				// The charges, as stored.
				db, err := store.Open(context.Background(), w.s.DB)
				if err != nil {
					t.Fatal(err)
				}
				credit, debit := map[string]int64{}, map[string]int64{}
				var fees, provider int64
				rows, err := db.SQL().Query("SELECT local_isp, home_isp, provider, fee FROM charges WHERE tariff_line IS NOT NULL")
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var l, h string
					var p, f int64
					rows.Scan(&l, &h, &p, &f)
					credit[l] += p
					debit[h] += p + f
					fees += f
					provider += p
				}
				rows.Close()
				db.Close()
				var nets int64
				for _, id := range []string{"ISPA", "ISPB", "ISPC"} {
					recs := readCSV(t, w.path("2026-10", id, "creditdebit.csv"))
					total := recs[len(recs)-1]
					var cr, db int64
					for _, r := range recs[:len(recs)-1] {
						cr += parseCents(t, r[2])
						db += parseCents(t, r[3])
					}
					if parseCents(t, total[2]) != credit[id] || parseCents(t, total[3]) != debit[id] || cr != credit[id] || db != debit[id] {
						t.Errorf("%s: credit/debit %s/%s (rows %d/%d), charges say %d/%d", id, total[2], total[3], cr, db, credit[id], debit[id])
					}
					nets += parseCents(t, total[4])
					inv := readCSV(t, w.path("2026-10", id, "invoice.csv"))
					var ip, ifee int64
					for _, r := range inv[:len(inv)-1] {
						ip += parseCents(t, r[4])
						ifee += parseCents(t, r[6])
					}
					if ip != parseCents(t, inv[len(inv)-1][4]) || ifee != parseCents(t, inv[len(inv)-1][6]) {
						t.Errorf("%s: invoice rows do not sum to its TOTAL", id)
					}
				}
				if nets+fees != 0 {
					t.Errorf("nets %d + fees %d != 0", nets, fees)
				}
				op := readCSV(t, w.path("2026-10", OperatorDir, "creditdebit.csv"))
				if last := op[len(op)-1]; last[3] != "0.00" || parseCents(t, last[1]) != provider+fees {
					t.Errorf("operator TOTAL %v, want net 0.00 and credit %d", last, provider+fees)
				}
			}
			if snaps[0] != snaps[1] {
				t.Error("the same history gave other bytes")
			}
		})
	}
}
