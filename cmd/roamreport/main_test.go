package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/internal/vsftpdtest"
	"roamsettle/pkg/batch"
	"roamsettle/pkg/lock"
	"roamsettle/pkg/spool"
)

// TestStagesThroughTheBinaries: batches loaded, cleaned and reported by
// the real roamload, roamclean and roamreport; a second report run does
// nothing; verify passes, then names a changed byte; usage errors exit 2
// and a held lock exits 4.
func TestStagesThroughTheBinaries(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfg, []byte("[settlement]\ninbound = \"inbound\"\ndb = \"db/roam.db\"\nreports = \"reports\"\nfee_per_session = \"0.01\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "partners.csv"), []byte("id,name,country,realms,timezone\n"+
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tariffs.csv"), []byte("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n"+
		"*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "inbound"), 0o755)
	w, err := batch.Create(filepath.Join(dir, "inbound"), "ISPB", 1, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	sp := t.TempDir()
	for i := 0; i < 21; i++ {
		start := time.Date(2026, 7, 1+i, 10, 0, 0, 0, time.UTC)
		user := fmt.Sprintf("u%d@aimnet.com", i%3)
		if i == 20 {
			user = "lost@nowhere.org" // rejected: returned to ISPB with its reports
		}
		r := spool.Record{StatusType: spool.Start, NAS: "nas1", SessionID: fmt.Sprint("S", i), UserName: user,
			EventTime: start, Received: start, Origin: "radius", PacketID: -1}
		stop := r
		stop.StatusType, stop.SessionTime, stop.EventTime = spool.Stop, int64(60*(i+1)), start.Add(time.Duration(60*(i+1))*time.Second)
		p := filepath.Join(sp, fmt.Sprintf("s%d.sess", i))
		spool.Append(p, []spool.Record{r, stop}, false)
		if _, err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if code, out := testbin.Run(t, "roamload", nil, "--config", cfg); code != 0 {
		t.Fatalf("roamload: exit %d\n%s", code, out)
	}
	if code, out := testbin.Run(t, "roamclean", nil, "--config", cfg); code != 3 {
		t.Fatalf("roamclean: exit %d, want 3 (a record rejected)\n%s", code, out)
	}
	code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "2026-07")
	if code != 0 || !strings.Contains(out, "sessions 20, rated 20") {
		t.Fatalf("roamreport: exit %d\n%s", code, out)
	}
	rejects, _ := os.ReadFile(filepath.Join(dir, "reports", "2026-07", "ISPB", "ISPB_2026-07_REJECTS.csv"))
	if lines := strings.Split(strings.TrimSpace(string(rejects)), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "UNKNOWN_REALM") ||
		!strings.Contains(lines[1], "lost@nowhere.org") {
		t.Errorf("ISPB's REJECTS file: want its two rejected records (Start and Stop of lost@nowhere.org):\n%s", rejects)
	}
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "2026-07"); code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("second run: exit %d\n%s", code, out)
	}
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "verify", "--period", "2026-07"); code != 0 {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	dt := filepath.Join(dir, "reports", "2026-07", "ISPB", "ISPB_2026-07_DT.txt")
	data, _ := os.ReadFile(dt)
	os.WriteFile(dt, []byte(strings.Replace(string(data), "\"S\",\"60\"", "\"S\",\"61\"", 1)), 0o644)
	if code, _ := testbin.Run(t, "roamreport", nil, "--config", cfg, "verify", "--period", "2026-07"); code != 3 {
		t.Errorf("verify of a changed DT file: exit %d, want 3", code)
	}
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "July"); code != 2 || !strings.Contains(out, "want YYYY-MM") {
		t.Errorf("bad period: exit %d\n%s", code, out)
	}
	lk, err := lock.Acquire(context.Background(), filepath.Join(dir, "db"), ".roam.lock", "roamclean", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "2026-07"); code != 4 || !strings.Contains(out, "roamclean") {
		t.Errorf("locked: exit %d\n%s", code, out)
	}
	// verify takes no lock.
	os.WriteFile(dt, data, 0o644)
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "verify", "--period", "2026-07"); code != 0 {
		t.Errorf("verify while locked: exit %d\n%s", code, out)
	}
}

// TestPublishThroughTheBinary: roamreport --publish and roamreport publish
// to an FTPS server named in roam.toml (password and CA in files), a
// second publish that sends nothing, and status --json.
func TestPublishThroughTheBinary(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true, ISPs: []string{"ISPA", "ISPB"}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ftp.pw"), []byte(s.Operator.Password+"\n"), 0o600)
	cfg := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[settlement]\ninbound = \"inbound\"\ndb = \"db/roam.db\"\nreports = \"reports\"\n"+
		"publish = %q\npublish_password_file = \"ftp.pw\"\npublish_ca_file = %q\n", s.URL(s.Operator, "").String(), s.CAFile)), 0o644)
	os.WriteFile(filepath.Join(dir, "partners.csv"), []byte("id,name,country,realms,timezone\n"+
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tariffs.csv"), []byte("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n"+
		"*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "inbound"), 0o755)
	w, err := batch.Create(filepath.Join(dir, "inbound"), "ISPB", 1, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		start := time.Date(2026, 7, 2+i, 9, 0, 0, 0, time.UTC)
		r := spool.Record{StatusType: spool.Stop, NAS: "nas1", SessionID: fmt.Sprint("P", i), UserName: "u@aimnet.com", SessionTime: 300,
			EventTime: start, Received: start, Origin: "radius", PacketID: -1}
		p := filepath.Join(t.TempDir(), "s.sess")
		spool.Append(p, []spool.Record{r}, false)
		if _, err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"roamload", "roamclean"} {
		if code, out := testbin.Run(t, bin, nil, "--config", cfg); code != 0 {
			t.Fatalf("%s: exit %d\n%s", bin, code, out)
		}
	}
	code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "2026-07", "--publish")
	if code != 0 || !strings.Contains(out, "published=2") {
		t.Fatalf("roamreport --publish: exit %d\n%s", code, out)
	}
	for _, id := range []string{"ISPA", "ISPB"} {
		if _, err := os.Stat(filepath.Join(s.Root, id, "2026-07", "MANIFEST")); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	code, out = testbin.Run(t, "roamreport", nil, "--config", cfg, "publish", "--period", "2026-07")
	if code != 0 || !strings.Contains(out, "unchanged=2") || !strings.Contains(out, "files_sent=0") {
		t.Errorf("second publish: exit %d\n%s", code, out)
	}
	status, err := exec.Command(testbin.Command(t, "roamreport"), "--config", cfg, "status", "--json").Output()
	if err != nil || !strings.Contains(string(status), `"folder": "ISPB/2026-07"`) || !strings.Contains(string(status), `"not_published": []`) {
		t.Errorf("status --json: %v\n%s", err, status)
	}
	// A wrong password in the environment (it wins over the file): exit 1 at once.
	code, out = testbin.Run(t, "roamreport", []string{"ROAM_PUBLISH_PASSWORD=wrong"}, "--config", cfg, "publish", "--period", "2026-07", "--force")
	if code != 1 || !strings.Contains(out, "refused") {
		t.Errorf("wrong password: exit %d\n%s", code, out)
	}
}

// newCentralDir writes a central host's roam.toml (with extra in its
// [settlement]), partners.csv of ISPA and ISPB and tariffs.csv (its rows
// after the header) and returns the roam.toml path.
func newCentralDir(t *testing.T, extra, tariffRows string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfg, []byte("[settlement]\ninbound = \"inbound\"\ndb = \"db/roam.db\"\nreports = \"reports\"\n"+extra), 0o644)
	os.WriteFile(filepath.Join(dir, "partners.csv"), []byte("id,name,country,realms,timezone\n"+
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tariffs.csv"), []byte("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n"+
		tariffRows), 0o644)
	os.MkdirAll(filepath.Join(dir, "inbound"), 0o755)
	return cfg
}

// addBatch puts batch seq of ISPB in inbound/, one spool file a record,
// and loads and cleans it (roamload, roamclean: exit 0 or 3).
func addBatch(t *testing.T, cfg string, seq uint64, recs ...spool.Record) {
	t.Helper()
	w, err := batch.Create(filepath.Join(filepath.Dir(cfg), "inbound"), "ISPB", seq, time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		p := filepath.Join(t.TempDir(), fmt.Sprintf("s%d.sess", i))
		spool.Append(p, []spool.Record{r}, false)
		if _, err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if code, out := testbin.Run(t, "roamload", nil, "--config", cfg); code != 0 {
		t.Fatalf("roamload: exit %d\n%s", code, out)
	}
	if code, out := testbin.Run(t, "roamclean", nil, "--config", cfg); code != 0 && code != 3 {
		t.Fatalf("roamclean: exit %d\n%s", code, out)
	}
}

// TestRejectsStayAsWritten: an ISP's REJECTS file is the rejected records
// as they were judged when its revision was written. A later batch that
// makes the rejected record a duplicate of a copy received earlier by
// another route (roamclean reclassifies it), another rejected record of
// the period, and a roamclean --rebuild change nothing of it: verify
// passes, and the folder written again holds the same bytes; roamclean
// rejects lists the records as they are now.
func TestRejectsStayAsWritten(t *testing.T) {
	cfg := newCentralDir(t, "", "*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n")
	at := time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC)
	stop := func(sid, user string, received time.Time) spool.Record {
		return spool.Record{StatusType: spool.Stop, NAS: "nas1", SessionID: sid, UserName: user, SessionTime: 300,
			EventTime: at, Received: received, Origin: "radius", PacketID: -1}
	}
	lost := stop("X1", "lost@nowhere.org", at.Add(20*time.Second))
	addBatch(t, cfg, 1, stop("P0", "u@aimnet.com", at), lost)
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "2026-07"); code != 0 {
		t.Fatalf("roamreport: exit %d\n%s", code, out)
	}
	rejects := filepath.Join(filepath.Dir(cfg), "reports", "2026-07", "ISPB", "ISPB_2026-07_REJECTS.csv")
	written, _ := os.ReadFile(rejects)
	if !strings.Contains(string(written), "lost@nowhere.org") {
		t.Fatalf("ISPB's REJECTS file lacks its rejected record:\n%s", written)
	}
	verify := func(when string) {
		t.Helper()
		if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "verify", "--period", "2026-07"); code != 0 {
			t.Errorf("verify %s: exit %d\n%s", when, code, out)
		}
	}
	verify("after the report")
	if code, out := testbin.Run(t, "roamclean", nil, "--config", cfg, "--rebuild"); code != 3 {
		t.Fatalf("roamclean --rebuild: exit %d\n%s", code, out)
	}
	verify("after roamclean --rebuild")

	early := lost
	early.Received = at.Add(5 * time.Second)
	addBatch(t, cfg, 2, early, stop("X2", "other@nowhere.org", at))
	verify("after a batch reclassified the rejected record and brought another")
	if code, out := testbin.Run(t, "roamclean", nil, "--config", cfg, "--rebuild"); code != 3 {
		t.Fatalf("roamclean --rebuild: exit %d\n%s", code, out)
	}
	verify("after the batch and roamclean --rebuild")
	// ISPB's folder damaged: the next run writes it again, the same bytes.
	os.Remove(filepath.Join(filepath.Dir(rejects), "MANIFEST"))
	if code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "--period", "2026-07"); code != 0 || !strings.Contains(out, "writing it again") {
		t.Fatalf("roamreport on a damaged folder: exit %d\n%s", code, out)
	}
	if again, _ := os.ReadFile(rejects); string(again) != string(written) {
		t.Errorf("REJECTS written again differs:\n%s\nwas\n%s", again, written)
	}
	now, err := exec.Command(testbin.Command(t, "roamclean"), "--config", cfg, "rejects", "--sender", "ISPB", "--period", "2026-07").Output()
	if err != nil || strings.Count(string(now), "UNKNOWN_REALM") != 2 || !strings.Contains(string(now), "ISPB-0000000002,s0.sess") {
		t.Errorf("roamclean rejects: want the two rejected records of batch 2: %v\n%s", err, now)
	}
}

// TestNoTariffRevisionNotPublished: a revision with sessions no tariff
// prices needs a person (exit 3) and is not published, by --publish, by
// the same run again (its report has nothing more to do) nor by the
// hourly roamreport publish; publish --revision N publishes it as it is,
// on purpose.
func TestNoTariffRevisionNotPublished(t *testing.T) {
	cfg := newCentralDir(t, "publish = \"published\"\n", "ISPB,ISPB,2026-01-01,*,*,0.0300,0.0500,60,60\n")
	at := time.Date(2026, 7, 2, 9, 0, 0, 0, time.UTC)
	addBatch(t, cfg, 1, spool.Record{StatusType: spool.Stop, NAS: "nas1", SessionID: "P0", UserName: "u@aimnet.com", SessionTime: 300,
		EventTime: at, Received: at, Origin: "radius", PacketID: -1})
	published := filepath.Join(filepath.Dir(cfg), "published")
	for _, args := range [][]string{{"--period", "2026-07", "--publish"}, {"--period", "2026-07", "--publish"}, {"publish", "--period", "2026-07"}} {
		code, out := testbin.Run(t, "roamreport", nil, append([]string{"--config", cfg}, args...)...)
		if code != 3 || !strings.Contains(out, "no tariff") {
			t.Errorf("roamreport %s: exit %d, want 3 (NO_TARIFF)\n%s", strings.Join(args, " "), code, out)
		}
		if _, err := os.Stat(published); err == nil {
			t.Fatalf("roamreport %s published the revision with a NO_TARIFF session", strings.Join(args, " "))
		}
	}
	code, out := testbin.Run(t, "roamreport", nil, "--config", cfg, "publish", "--period", "2026-07", "--revision", "1")
	if code != 0 || !strings.Contains(out, "published=2") {
		t.Errorf("publish --revision 1: exit %d\n%s", code, out)
	}
}
