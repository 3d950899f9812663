package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodPartners = `id,name,country,realms,timezone
ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles
ISPB,Connect.com,Australia,connect.com.au connect.com,Australia/Sydney
`

const goodTariffs = `local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum
*,*,2026-01-01,*,*,0.0300,0.0500,60,60
ISPB,ISPA,2026-06-01,*,*,0.0250,0.0450,60,0
ISPB,*,2026-06-01,Sat Sun,*,0.0100,0.0300,60,0
ISPB,*,2026-06-01,Mon Tue Wed Thu Fri,18:00-08:00,0.0150,0.0350,30,0
`

const goodTOML = `[settlement]
operator = "Roam Clearing"
currency = "USD"
fee_per_session = "0.0100"
fee_per_minute  = "0.0020"

[edge]
isp = "ISPB"
spool = "spool"
listen = "127.0.0.1:1813"
stale_after = "6h"

[[edge.nas]]
name = "nas1"
address = "192.0.2.10"
secret_file = "secrets/nas1"

[[edge.nas]]
name = "nas2"
address = "192.0.2.11"
secret = "inline"
`

func TestLoadGood(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"roam.toml": goodTOML, "partners.csv": goodPartners, "tariffs.csv": goodTariffs,
		"secrets/nas1": "s3cret\n",
	})
	cfg, err := Load(filepath.Join(dir, "roam.toml"), false, nil, NeedEdge|NeedCentral|NeedParties)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Edge.Spool != filepath.Join(dir, "spool") {
		t.Errorf("spool not resolved: %s", cfg.Edge.Spool)
	}
	if string(cfg.Edge.NAS[0].Secret) != "s3cret" || string(cfg.Edge.NAS[1].Secret) != "inline" {
		t.Errorf("secrets: %q %q", cfg.Edge.NAS[0].Secret, cfg.Edge.NAS[1].Secret)
	}
	if cfg.Edge.StaleAfter != 6*time.Hour || cfg.Settlement.FeePerSession.String() != "0.010000" {
		t.Errorf("values: %v %v", cfg.Edge.StaleAfter, cfg.Settlement.FeePerSession)
	}
	if p, ok := cfg.Settlement.Partners.ByRealm("CONNECT.com"); !ok || p.ID != "ISPB" {
		t.Errorf("realm lookup: %v", p)
	}
	// Precedence: an override beats the file.
	cfg, err = Load(filepath.Join(dir, "roam.toml"), false, []Override{{Section: "edge", Key: "stale_after", Value: "2h", Source: "env ROAM_STALE_AFTER"}}, NeedEdge)
	if err != nil || cfg.Edge.StaleAfter != 2*time.Hour {
		t.Fatalf("override: %v %v", cfg.Edge.StaleAfter, err)
	}
	_, err = Load(filepath.Join(dir, "roam.toml"), false, []Override{{Section: "edge", Key: "stale_after", Value: "soon", Source: "flag --stale-after"}}, NeedEdge)
	if err == nil || !strings.Contains(err.Error(), "flag --stale-after: edge.stale_after") {
		t.Fatalf("bad override error: %v", err)
	}
}

func TestPublishSettings(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"roam.toml":   "[settlement]\npublish = \"ftps://settle@ftp.example.net:2121/roaming\"\npublish_password_file = \"secrets/ftp\"\npublish_ca_file = \"ca.pem\"\n",
		"tariffs.csv": goodTariffs, "secrets/ftp": "from-file\n",
		"partners.csv": "id,name,country,realms,timezone,publish,publish_password_file\nISPA,A,USA,a.com,UTC,ftps://ispa@ftp.example.net/,secrets/ispa\nISPB,B,AU,b.com,UTC,,\n",
	})
	cfg, err := Load(filepath.Join(dir, "roam.toml"), false, nil, NeedCentral|NeedParties)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Settlement
	if s.PublishURL == nil || s.PublishURL.Scheme != "ftps" || s.PublishURL.Port() != "2121" || s.PublishPassword != "from-file" ||
		s.PublishCAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("publish: %v %q %q", s.PublishURL, s.PublishPassword, s.PublishCAFile)
	}
	a, _ := s.Partners.ByID("ISPA")
	b, _ := s.Partners.ByID("ISPB")
	if a.PublishURL == nil || a.PublishURL.User.Username() != "ispa" || a.PublishPasswordFile != filepath.Join(dir, "secrets/ispa") || b.Publish != "" {
		t.Errorf("partners: %+v %+v", a, b)
	}
	// ROAM_PUBLISH_PASSWORD wins over the file's; it is no flag.
	cfg, err = Load(filepath.Join(dir, "roam.toml"), false, []Override{{Section: "settlement", Key: "publish_password", Value: "from-env", Source: "env ROAM_PUBLISH_PASSWORD"}}, NeedCentral)
	if err != nil || cfg.Settlement.PublishPassword != "from-env" {
		t.Fatalf("env password: %q %v", cfg.Settlement.PublishPassword, err)
	}
	for _, st := range Settings("settlement") {
		if st.Key == "publish_password" && !st.EnvOnly {
			t.Error("publish_password must be environment only")
		}
	}
}

func TestLoadErrorsNameFileLineField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"unknown key", map[string]string{"roam.toml": "[edge]\nisp = \"ISPB\"\nstale_afterr = \"1h\"\n"},
			[]string{"roam.toml:3: edge.stale_afterr: unknown key"}},
		{"unknown section", map[string]string{"roam.toml": "[edgy]\nx = \"1\"\n"},
			[]string{"roam.toml:1: edgy: unknown section"}},
		{"bad duration", map[string]string{"roam.toml": "[edge]\nisp = \"ISPB\"\n\nstale_after = \"6x\"\n"},
			[]string{"roam.toml:4: edge.stale_after:"}},
		{"number not string", map[string]string{"roam.toml": "[settlement]\nfee_per_session = 0.01\n"},
			[]string{"roam.toml:2: settlement.fee_per_session: must be a quoted string"}},
		{"missing secret file", map[string]string{"roam.toml": "[edge]\nisp = \"ISPB\"\n[[edge.nas]]\nname = \"n\"\naddress = \"10.0.0.1\"\nsecret_file = \"nope\"\n"},
			[]string{"roam.toml:6: edge.nas[0].secret_file: cannot read secret file"}},
		{"bad nas address", map[string]string{"roam.toml": "[edge]\nisp = \"ISPB\"\n[[edge.nas]]\nname = \"n\"\naddress = \"10.0.0\"\nsecret = \"x\"\n"},
			[]string{"roam.toml:5: edge.nas[0].address"}},
		{"unknown nas key", map[string]string{"roam.toml": "[edge]\nisp = \"ISPB\"\n[[edge.nas]]\nname = \"n\"\naddress = \"10.0.0.1\"\nsecret = \"x\"\nport = \"3\"\n"},
			[]string{"roam.toml:7: edge.nas[0].port: unknown key"}},
		{"toml syntax", map[string]string{"roam.toml": "[edge]\nisp = \n"},
			[]string{"roam.toml:2:"}},
		{"bad zone", map[string]string{"roam.toml": "[settlement]\n", "tariffs.csv": goodTariffs,
			"partners.csv": "id,name,country,realms,timezone\nISPA,A,USA,a.com,Mars/Olympus\n"},
			[]string{"partners.csv:2: timezone: \"Mars/Olympus\""}},
		{"duplicate realm", map[string]string{"roam.toml": "[settlement]\n", "tariffs.csv": goodTariffs,
			"partners.csv": "id,name,country,realms,timezone\nISPA,A,USA,a.com,UTC\nISPB,B,AU,b.com A.COM,UTC\n"},
			[]string{"partners.csv:3: realms: realm \"a.com\" already belongs to ISPA (line 2)"}},
		{"the operator's folder as partner id", map[string]string{"roam.toml": "[settlement]\n", "tariffs.csv": goodTariffs,
			"partners.csv": "id,name,country,realms,timezone\nISPA,A,USA,a.com,UTC\nOperator,B,AU,b.com,UTC\n"},
			[]string{"partners.csv:3: id: \"Operator\" is the name of the operator's folder of a reported period"}},
		{"missing column", map[string]string{"roam.toml": "[settlement]\n", "tariffs.csv": goodTariffs,
			"partners.csv": "id,name,realms,timezone\nISPA,A,a.com,UTC\n"},
			[]string{"partners.csv:1: country: missing column"}},
		{"bad rate", map[string]string{"roam.toml": "[settlement]\n", "partners.csv": goodPartners,
			"tariffs.csv": "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.03000001,0.05,60,60\n"},
			[]string{"tariffs.csv:2: provider_rate: \"0.03000001\" has more than 6 decimal places"}},
		{"unknown partner", map[string]string{"roam.toml": "[settlement]\n", "partners.csv": goodPartners,
			"tariffs.csv": "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\nISPZ,*,2026-01-01,*,*,0.03,0.05,60,60\n"},
			[]string{"tariffs.csv:2: local: \"ISPZ\" is not a partner id"}},
		{"overlapping bands", map[string]string{"roam.toml": "[settlement]\n", "partners.csv": goodPartners,
			"tariffs.csv": "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n" +
				"ISPB,*,2026-06-01,Sat Sun,*,0.01,0.03,60,0\nISPB,*,2026-06-01,Fri Sat,20:00-02:00,0.01,0.03,60,0\n"},
			[]string{"tariff rows on lines 2 and 3 tie", "bands overlap"}},
		{"unbanded tie", map[string]string{"roam.toml": "[settlement]\n", "partners.csv": goodPartners,
			"tariffs.csv": "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n" +
				"*,*,2026-01-01,*,*,0.03,0.05,60,60\nISPA,*,2026-01-01,*,*,0.03,0.05,60,60\n*,*,2026-01-01,*,*,0.04,0.05,60,60\n"},
			[]string{"tariff rows on lines 2 and 4 tie"}},
		{"publish scheme", map[string]string{"roam.toml": "[settlement]\npublish = \"sftp://op@host/x\"\n", "partners.csv": goodPartners, "tariffs.csv": goodTariffs},
			[]string{"roam.toml:2: settlement.publish: \"sftp://op@host/x\": want ftp://user@host[:port]/path, ftps://"}},
		{"publish password in URL", map[string]string{"roam.toml": "[settlement]\npublish = \"ftps://op:pw@host/x\"\n", "partners.csv": goodPartners, "tariffs.csv": goodTariffs},
			[]string{"roam.toml:2: settlement.publish:", "no password in the URL"}},
		{"partner publish URL", map[string]string{"roam.toml": "[settlement]\n", "tariffs.csv": goodTariffs,
			"partners.csv": "id,name,country,realms,timezone,publish,publish_password_file\nISPA,A,USA,a.com,UTC,ftps://host/,pw\nISPB,B,AU,b.com,UTC,outbox,pw\n"},
			[]string{"partners.csv:2: publish: \"ftps://host/\"", "partners.csv:3: publish_password_file: a password file needs"}},
		{"bad hours", map[string]string{"roam.toml": "[settlement]\n", "partners.csv": goodPartners,
			"tariffs.csv": "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,08:00-08:00,0.03,0.05,60,60\n"},
			[]string{"tariffs.csv:2: hours:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			old, _ := os.Getwd()
			os.Chdir(dir)
			defer os.Chdir(old)
			_, err := Load("roam.toml", false, nil, NeedEdge|NeedCentral|NeedParties)
			if err == nil {
				t.Fatal("no error")
			}
			msg := strings.ReplaceAll(err.Error(), dir+"/", "")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\nwant it to contain %q", msg, w)
				}
			}
		})
	}
}

func TestTariffSelect(t *testing.T) {
	p, err := ParsePartners(strings.NewReader(goodPartners), "partners.csv")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := ParseTariffs(strings.NewReader(goodTariffs), "tariffs.csv", p)
	if err != nil {
		t.Fatal(err)
	}
	syd := p.byID["ISPB"].Timezone
	for _, tc := range []struct {
		name        string
		local, home string
		stop        string
		startLocal  time.Time
		wantLine    int
	}{
		{"pair beats band", "ISPB", "ISPA", "2026-07-04", time.Date(2026, 7, 4, 12, 0, 0, 0, syd), 3},
		{"weekend band", "ISPB", "ISPC", "2026-07-04", time.Date(2026, 7, 4, 12, 0, 0, 0, syd), 4},
		{"night band wraps", "ISPB", "ISPC", "2026-07-06", time.Date(2026, 7, 6, 3, 0, 0, 0, syd), 5},
		{"weekday day: (local,*) unbanded absent -> default", "ISPB", "ISPC", "2026-07-06", time.Date(2026, 7, 6, 12, 0, 0, 0, syd), 2},
		{"before valid_from", "ISPB", "ISPA", "2026-05-31", time.Date(2026, 5, 31, 12, 0, 0, 0, syd), 2},
	} {
		stop, _ := time.Parse("2006-01-02", tc.stop)
		got, ok := ts.Select(tc.local, tc.home, stop.Add(10*time.Hour), tc.startLocal)
		if !ok || got.Line != tc.wantLine {
			t.Errorf("%s: got line %v", tc.name, got)
		}
	}
	if _, ok := ts.Select("ISPB", "ISPA", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Now()); ok {
		t.Error("a session before every valid_from must find no tariff")
	}
}
