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
