// Command genreport writes the central folder of the roamreport benchmark
// (bench/report.sh): partners.csv with 50 ISPs in several time zones, a
// tariffs.csv of 200 rows (every level of precedence, weekend and night
// bands), and a database whose history holds the sessions of July 2026,
// written as roamclean writes them (a day at a time, each local ISP's
// sessions together).
//
//	go run ./bench/genreport -sessions 1000000 -out /tmp/central
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"roamsettle/pkg/store"

	_ "time/tzdata"
)

func main() {
	sessions := flag.Int("sessions", 1_000_000, "sessions in July 2026")
	isps := flag.Int("isps", 50, "partners")
	users := flag.Int("users", 100_000, "distinct users")
	out := flag.String("out", "", "central folder to create (required)")
	flag.Parse()
	if *out == "" || *isps < 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *sessions, *isps, *users); err != nil {
		fmt.Fprintln(os.Stderr, "genreport:", err)
		os.Exit(1)
	}
}

var zones = []string{"America/Los_Angeles", "Australia/Sydney", "Europe/Berlin", "Asia/Tokyo", "America/New_York", "Europe/London", "Asia/Kolkata"}

func run(out string, n, isps, users int) error {
	if err := os.MkdirAll(filepath.Join(out, "db"), 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var p strings.Builder
	p.WriteString("id,name,country,realms,timezone\n")
	locs := make([]*time.Location, isps)
	for i := 0; i < isps; i++ {
		z := zones[i%len(zones)]
		locs[i], _ = time.LoadLocation(z)
		fmt.Fprintf(&p, "ISP%02d,Net %d,Country %d,isp%02d.net,%s\n", i, i, i%17, i, z)
	}
	var t strings.Builder
	t.WriteString("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n")
	rows := 1
	rate := func() string { return fmt.Sprintf("0.%04d", rng.IntN(500)+10) }
	for i := 0; i < isps && rows < 200; i++ {
		id := fmt.Sprintf("ISP%02d", i)
		fmt.Fprintf(&t, "%s,*,2026-06-01,*,*,%s,%s,60,0\n%s,*,2026-06-01,Sat Sun,*,%s,%s,60,0\n*,%s,2026-06-01,*,*,%s,%s,30,60\n",
			id, rate(), rate(), id, rate(), rate(), id, rate(), rate())
		rows += 3
		if rows < 200 {
			fmt.Fprintf(&t, "%s,ISP%02d,2026-07-01,Mon Tue Wed Thu Fri,22:00-06:00,%s,%s,1,0\n", id, (i+1)%isps, rate(), rate())
			rows++
		}
	}
	if err := os.WriteFile(filepath.Join(out, "partners.csv"), []byte(p.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "tariffs.csv"), []byte(t.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "roam.toml"), []byte("[settlement]\ndb = \"db/roam.db\"\nreports = \"reports\"\n"+
		"fee_per_session = \"0.0100\"\nfee_per_minute = \"0.0020\"\n"), 0o644); err != nil {
		return err
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(out, "db", "roam.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginClean(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Sessions are written in the order roamclean meets them: each ISP's
	// daily batch in turn, so a day's sessions lie together, grouped by
	// local ISP, not sorted by time.
	july := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	type gen struct {
		local, home int
		start       time.Time
		dur         int64
		user        int
	}
	all := make([]gen, n)
	for i := range all {
		g := gen{local: rng.IntN(isps), dur: int64(rng.IntN(7200) + 1), user: rng.IntN(users)}
		g.home = (g.local + 1 + rng.IntN(isps-1)) % isps
		g.start = july.Add(time.Duration(rng.Int64N(int64(31*24*3600)-g.dur)) * time.Second)
		all[i] = g
	}
	day := func(g gen) int64 { return g.start.Add(time.Duration(g.dur)*time.Second).Unix() / 86400 }
	sort.SliceStable(all, func(i, j int) bool {
		if di, dj := day(all[i]), day(all[j]); di != dj {
			return di < dj
		}
		return all[i].local < all[j].local
	})
	for i, g := range all {
		local, home, dur, start := g.local, g.home, g.dur, g.start
		user := fmt.Sprintf("user%d", g.user)
		sid := fmt.Sprintf("%08X", i)
		s := &store.Session{Key: fmt.Sprintf("ISP%02d|nas1|%s|%s", local, start.Format("20060102T150405Z"), sid), Period: "2026-07",
			LocalISP: fmt.Sprintf("ISP%02d", local), HomeISP: fmt.Sprintf("ISP%02d", home), UserName: fmt.Sprintf("%s@isp%02d.net", user, home),
			User: user, Realm: fmt.Sprintf("isp%02d.net", home), NASID: "nas1", SessionID: sid, Start: start,
			Stop: start.Add(time.Duration(dur) * time.Second), Zone: locs[local], Duration: dur, Records: 3,
			StartEntryID: int64(3*i + 1), FinalEntryID: int64(3*i + 3), Revision: 1}
		s.Digest = store.SessionDigest(s)
		if err := tx.PutSession(s); err != nil {
			return err
		}
	}
	return tx.Commit()
}
