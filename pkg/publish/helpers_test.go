package publish

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/config"
	"roamsettle/pkg/report"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

const partnersCSV = `id,name,country,realms,timezone
ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles
ISPB,Connect.com,Australia,connect.com.au,Australia/Sydney
ISPC,Eunet,Germany,eunet.de,Europe/Berlin
`

// central is a central host with July 2026 reported.
type central struct {
	t   *testing.T
	dir string
	s   *config.Settlement
}

// newCentral writes the configuration (publish as given, "" for none,
// extra appended to roam.toml's [settlement]), a history of n sessions
// and reports July 2026.
func newCentral(t *testing.T, publish, partners string, n int) *central {
	t.Helper()
	dir := t.TempDir()
	if partners == "" {
		partners = partnersCSV
	}
	toml := "[settlement]\ndb = \"db/roam.db\"\nreports = \"reports\"\nfee_per_session = \"0.0100\"\n"
	if publish != "" {
		toml += fmt.Sprintf("publish = %q\n", publish)
	}
	for name, body := range map[string]string{
		"roam.toml": toml, "partners.csv": partners,
		"tariffs.csv": "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &central{t: t, dir: dir}
	c.load()
	os.MkdirAll(filepath.Join(dir, "db"), 0o755)
	c.history(n)
	logs := &testbin.Output{}
	if err := report.Report(context.Background(), stage.NewText("roamreport", logs), c.s, report.Options{Period: "2026-07"}); err != nil {
		t.Fatalf("report: %v\n%s", err, logs)
	}
	return c
}

func (c *central) load() {
	cfg, err := config.Load(filepath.Join(c.dir, "roam.toml"), false, nil, config.NeedCentral|config.NeedParties)
	if err != nil {
		c.t.Fatal(err)
	}
	c.s = &cfg.Settlement
}

// history writes n sessions of July 2026 between the three ISPs.
func (c *central) history(n int) {
	db, err := store.Open(context.Background(), c.s.DB)
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginClean(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	defer tx.Rollback()
	ids := []string{"ISPA", "ISPB", "ISPC"}
	for i := 0; i < n; i++ {
		local, home := c.s.Partners.List[i%3], c.s.Partners.List[(i+1+i/3%2)%3]
		start := time.Date(2026, 7, 1+i%28, i%24, i%60, 0, 0, time.UTC)
		dur := int64(60 + 37*i%5000)
		user := fmt.Sprintf("user%d", i%17)
		sid := fmt.Sprintf("s%06d", i)
		r := &store.Session{Key: ids[i%3] + "|nas1|" + start.Format("20060102T150405Z") + "|" + sid, Period: "2026-07",
			LocalISP: local.ID, HomeISP: home.ID, UserName: user + "@" + home.Realms[0], User: user, Realm: home.Realms[0],
			NASID: "nas1", SessionID: sid, Start: start, Stop: start.Add(time.Duration(dur) * time.Second), Zone: local.Timezone,
			Duration: dur, Records: 2, StartEntryID: int64(2*i + 1), FinalEntryID: int64(2*i + 2), Revision: 1}
		r.Digest = store.SessionDigest(r)
		if err := tx.PutSession(r); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		c.t.Fatal(err)
	}
}

// publish runs roamreport publish with opts (Period defaults to July).
func (c *central) publish(opts Options) (*stage.Run, string, error) {
	c.t.Helper()
	return c.publishCtx(context.Background(), opts)
}

func (c *central) publishCtx(ctx context.Context, opts Options) (*stage.Run, string, error) {
	if opts.Period == "" {
		opts.Period = "2026-07"
	}
	logs := &testbin.Output{}
	run := stage.NewText("roamreport", logs)
	err := Publish(ctx, run, c.s, opts)
	return run, logs.String(), err
}

// count runs a counting query on the database.
func (c *central) count(q string) int64 {
	c.t.Helper()
	db, err := store.OpenExisting(context.Background(), c.s.DB)
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.SQL().QueryRow(q).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// files lists a folder's files (relative, sorted), with their contents.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return nil
	})
	return out
}

func names(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
