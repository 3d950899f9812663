package report

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testPartnersCSV = `id,name,country,realms,timezone
ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles
ISPB,Connect.com,Australia,connect.com.au connect.com,Australia/Sydney
ISPC,Eunet,Germany,eunet.de,Europe/Berlin
`

// The golden tariffs: every level of precedence, a band beating no band,
// a band across midnight, increments and minimums; no (*,*) row, so a
// pair no row covers has no tariff.
const testTariffsCSV = `local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum
ISPB,ISPA,2026-06-01,*,*,0.0250,0.0450,60,0
ISPB,*,2026-06-01,Sat Sun,*,0.0100,0.0300,60,0
ISPB,*,2026-06-01,*,*,0.0200,0.0400,60,60
ISPB,*,2026-06-01,Mon Tue Wed Thu Fri,22:00-06:00,0.0150,0.0350,30,0
*,ISPC,2026-06-01,*,*,0.0300,0.0500,60,120
ISPC,ISPA,2026-06-01,*,*,0.000150,0.0450,1,0
`

// world is a central host whose history the test writes directly.
type world struct {
	t   testing.TB
	dir string
	s   *config.Settlement
}

func newWorld(t testing.TB, tariffs string) *world {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "partners.csv"), []byte(testPartnersCSV), 0o644)
	os.WriteFile(filepath.Join(dir, "tariffs.csv"), []byte(tariffs), 0o644)
	os.WriteFile(filepath.Join(dir, "roam.toml"), []byte("[settlement]\noperator = \"Roam Clearing\"\ncurrency = \"USD\"\n"+
		"fee_per_session = \"0.0100\"\nfee_per_minute = \"0.0020\"\ndb = \"db/roam.db\"\nreports = \"reports\"\n"), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "roam.toml"), false, nil, config.NeedCentral|config.NeedParties)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "db"), 0o755)
	return &world{t: t, dir: dir, s: &cfg.Settlement}
}

// sess is a session for the test's history: local ISP, user@realm, start
// (UTC) and duration.
type sess struct {
	local, user string
	start       time.Time
	dur         int64
}

// put writes sessions into the history, as roamclean would have.
func (w *world) put(ss ...sess) {
	w.t.Helper()
	db, err := store.Open(context.Background(), w.s.DB)
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginClean(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	defer tx.Rollback()
	for i, x := range ss {
		user, realm, _ := strings.Cut(x.user, "@")
		home, ok := w.s.Partners.ByRealm(realm)
		if !ok {
			w.t.Fatalf("realm %s", realm)
		}
		local, _ := w.s.Partners.ByID(x.local)
		stop := x.start.Add(time.Duration(x.dur) * time.Second)
		sid := x.start.Format("0102T150405") + "-" + user
		r := &store.Session{Key: x.local + "|nas1|" + x.start.Format("20060102T150405Z") + "|" + sid, Period: stop.Format("2006-01"),
			LocalISP: x.local, HomeISP: home.ID, UserName: user + "@" + realm, User: user, Realm: realm, NASID: "nas1", SessionID: sid,
			Start: x.start, Stop: stop, Zone: local.Timezone, Duration: x.dur, Records: 2, StartEntryID: int64(2*i + 1),
			FinalEntryID: int64(2*i + 2), Revision: 1}
		r.Digest = store.SessionDigest(r)
		if err := tx.PutSession(r); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		w.t.Fatal(err)
	}
}

// report runs roamreport for a period.
func (w *world) report(period string, revise bool) (*stage.Run, string, error) {
	w.t.Helper()
	logs := &testbin.Output{}
	run := stage.NewText("roamreport", logs)
	err := Report(context.Background(), run, w.s, Options{Period: period, Revise: revise,
		Now: func() time.Time { return time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC) }})
	return run, logs.String(), err
}

func (w *world) path(p ...string) string {
	return filepath.Join(append([]string{w.dir, "reports"}, p...)...)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/report -run %s -update)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/report -run %s -update, then review the diff):\n%s", path, t.Name(), got)
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
