package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantErr is one error a test expects: its exact place and part of its message.
type wantErr struct {
	line  int
	field string
	msg   string
}

// loadIn writes roam.toml (and the given extra files) to a fresh folder and
// loads it as a central and edge command would, with the file name relative
// so messages read "roam.toml:3: ...".
func loadIn(t *testing.T, toml string, overrides []Override, extra map[string]string) (*Config, error) {
	t.Helper()
	files := map[string]string{"roam.toml": toml, "partners.csv": goodPartners, "tariffs.csv": goodTariffs}
	for k, v := range extra {
		files[k] = v
	}
	dir := writeFiles(t, files)
	t.Chdir(dir)
	return Load("roam.toml", false, overrides, NeedEdge|NeedCentral|NeedParties)
}

func checkErrors(t *testing.T, err error, want []wantErr) {
	t.Helper()
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want config.Errors, got %T %v", err, err)
	}
	for _, w := range want {
		found := false
		for _, e := range es {
			if e.File == "roam.toml" && e.Line == w.line && e.Field == w.field && strings.Contains(e.Msg, w.msg) {
				found = true
			}
		}
		if !found {
			t.Errorf("want roam.toml:%d: %s: ...%s...\ngot:\n%v", w.line, w.field, w.msg, err)
		}
	}
	if len(es) != len(want) {
		t.Errorf("want %d errors, got %d:\n%v", len(want), len(es), err)
	}
}

const edgeHead = "[edge]\nisp = \"ISPB\"\n"

// TestTOMLShapeErrors covers the holes a hostile tester found (issue 7,
// fault 5): every mistake is reported with its line and exact field.
func TestTOMLShapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want []wantErr
	}{
		{"dotted key under edge", edgeHead + "foo.bar = \"x\"\n",
			[]wantErr{{3, "edge.foo", "unknown key"}}},
		{"dotted key under settlement", "[settlement]\na.b = \"x\"\n" + edgeHead,
			[]wantErr{{2, "settlement.a", "unknown key"}}},
		{"inline table under settlement", "[settlement]\ncurrency = \"USD\"\nx = {a = \"b\"}\n" + edgeHead,
			[]wantErr{{3, "settlement.x", "unknown key"}}},
		{"known key given as inline table", "[settlement]\noperator = { name = \"x\" }\n" + edgeHead,
			[]wantErr{{2, "settlement.operator", "must be a quoted string, not a table"}}},
		{"known key given as dotted key", "[settlement]\nfee_per_session.usd = \"1\"\n" + edgeHead,
			[]wantErr{{2, "settlement.fee_per_session", "must be a quoted string, not a table"}}},
		{"inline table at top level, bad value", "edge = { isp = \"ISPB\", stale_after = \"6x\" }\n",
			[]wantErr{{1, "edge.stale_after", "is not a positive duration"}}},
		{"inline table at top level, unknown key", "\nedge = { isp = \"ISPB\", foo = \"x\" }\n",
			[]wantErr{{2, "edge.foo", "unknown key"}}},
		{"key defined twice", edgeHead + "spool = \"a\"\n\nspool = \"b\"\n",
			[]wantErr{{5, "edge.spool", "defined twice (first on line 3)"}}},
		{"key defined twice through a dotted key", "edge.isp = \"ISPB\"\n[edge]\nspool = \"a\"\n",
			[]wantErr{{2, "edge", "table [edge] defined twice (first on line 1)"}}},
		{"table defined twice", edgeHead + "[settlement]\n[edge]\nspool = \"s\"\nspool = \"t\"\n",
			[]wantErr{{4, "edge", "table [edge] defined twice (first on line 1)"}, {6, "edge.spool", "defined twice (first on line 5)"}}},
		{"value then table", edgeHead + "[edge.isp]\n",
			[]wantErr{{3, "edge.isp", "both a value (line 2) and a table (line 3)"}}},
		{"value then dotted key", edgeHead + "isp.x = \"y\"\n",
			[]wantErr{{3, "edge.isp", "both a value (line 2) and a table (line 3)"}}},
		{"section given as a value", "edge = \"x\"\n[edge]\n",
			[]wantErr{{2, "edge", "both a value (line 1) and a table (line 2)"}}},
		{"array of tables then table", edgeHead + "[[edge.nas]]\nname = \"n\"\naddress = \"10.0.0.1\"\nsecret = \"s\"\n[edge.nas]\n",
			[]wantErr{{7, "edge.nas", "an array of tables (line 3)"}}},
		{"inline table extended", "edge = { isp = \"ISPB\" }\n[edge]\n",
			[]wantErr{{2, "edge", "inline table (line 1) cannot be extended"}}},
		{"listen port too large", edgeHead + "listen = \"127.0.0.1:70000\"\n",
			[]wantErr{{3, "edge.listen", "port"}}},
		{"listen port zero", edgeHead + "listen = \":0\"\n",
			[]wantErr{{3, "edge.listen", "port"}}},
		{"listen port negative", edgeHead + "listen = \"127.0.0.1:-1\"\n",
			[]wantErr{{3, "edge.listen", "port"}}},
		{"listen port a name", edgeHead + "listen = \"127.0.0.1:radius-acct\"\n",
			[]wantErr{{3, "edge.listen", "port"}}},
		{"listen port missing", edgeHead + "listen = \"127.0.0.1:\"\n",
			[]wantErr{{3, "edge.listen", "port"}}},
		{"integer not string", edgeHead + "stale_after = 6\n",
			[]wantErr{{3, "edge.stale_after", "must be a quoted string, not a TOML integer"}}},
		{"array not string", "[settlement]\nfee_per_minute = [\"1\"]\n" + edgeHead,
			[]wantErr{{2, "settlement.fee_per_minute", "must be a quoted string, not a TOML array"}}},
		{"bool not bool", edgeHead + "insecure_ignore_host_key = \"yes\"\n",
			[]wantErr{{3, "edge.insecure_ignore_host_key", "must be true or false"}}},
		{"unknown key in second nas", edgeHead +
			"[[edge.nas]]\nname = \"a\"\naddress = \"10.0.0.1\"\nsecret = \"s\"\nport = \"1\"\n" +
			"[[edge.nas]]\nname = \"b\"\naddress = \"10.0.0.2\"\nsecret = \"s\"\nport = \"2\"\n",
			[]wantErr{{7, "edge.nas[0].port", "unknown key in [[edge.nas]]"}, {12, "edge.nas[1].port", "unknown key in [[edge.nas]]"}}},
		{"nas as a plain table", edgeHead + "[edge.nas]\nname = \"a\"\n",
			[]wantErr{{3, "edge.nas", "[[edge.nas]]"}}},
		{"nas as an inline array", edgeHead + "nas = [{ name = \"a\" }]\n",
			[]wantErr{{3, "edge.nas", "[[edge.nas]]"}}},
		{"edge as an array of tables", "[[edge]]\nisp = \"ISPB\"\n",
			[]wantErr{{1, "edge", "[edge]"}}},
		{"unknown section", edgeHead + "[edgy]\nx = \"1\"\n",
			[]wantErr{{3, "edgy", "unknown section"}}},
		{"unknown top-level key", "foo = \"x\"\n" + edgeHead,
			[]wantErr{{1, "foo", "unknown section or key"}}},
		{"unknown sub-table", edgeHead + "[edge.foo]\nbar = \"x\"\n",
			[]wantErr{{3, "edge.foo", "unknown table"}}},
		{"all mistakes at once", edgeHead + "foo = \"x\"\nstale_after = \"6x\"\n",
			[]wantErr{{3, "edge.foo", "unknown key"}, {4, "edge.stale_after", "is not a positive duration"}}},
		{"a wrong type hides no other mistake and adds none", "[edge]\nisp = 1\nspool = \"s\"\nsweep_every = \"0s\"\n",
			[]wantErr{{2, "edge.isp", "must be a quoted string"}, {4, "edge.sweep_every", "is not a positive duration"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadIn(t, tc.toml, nil, nil)
			checkErrors(t, err, tc.want)
		})
	}
}

// TestTOMLShapeAccepted: dotted keys, quoted keys and inline tables are
// plain TOML; they mean what the [table] form means.
func TestTOMLShapeAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
	}{
		{"tables", "[settlement]\ncurrency = \"EUR\"\n[edge]\nisp = \"ISPB\"\nlisten = \"[::1]:1813\"\n[[edge.nas]]\nname = \"n\"\naddress = \"10.0.0.1\"\nsecret = \"s\"\n"},
		{"dotted keys", "settlement.currency = \"EUR\"\nedge.isp = \"ISPB\"\nedge.listen = \"[::1]:1813\"\n[[edge.nas]]\nname = \"n\"\naddress = \"10.0.0.1\"\nsecret = \"s\"\n"},
		{"inline tables", "settlement = { currency = \"EUR\" }\nedge = { isp = \"ISPB\", listen = \"[::1]:1813\" }\n"},
		{"quoted keys", "[\"settlement\"]\n'currency' = \"EUR\"\n[edge]\n\"isp\" = 'ISPB'\nlisten = \"\"\"[::1]:1813\"\"\"\n"},
		{"spaced and quoted headers", "[ settlement ]\ncurrency = \"EUR\"\n[edge]\nisp = \"ISPB\"\nlisten = \"[::1]:1813\"\n" +
			"[[ edge . \"nas\" ]]\nname = \"n\"\naddress = \"10.0.0.1\"\nsecret = \"s\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadIn(t, tc.toml, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Settlement.Currency != "EUR" || cfg.Edge.ISP != "ISPB" || cfg.Edge.Listen != "[::1]:1813" {
				t.Errorf("got %q %q %q", cfg.Settlement.Currency, cfg.Edge.ISP, cfg.Edge.Listen)
			}
		})
	}
}

// TestOverrideSection: an override names its section; the key alone does
// not decide it.
func TestOverrideSection(t *testing.T) {
	toml := edgeHead
	cfg, err := loadIn(t, toml, []Override{{Section: "settlement", Key: "currency", Value: "EUR", Source: "env ROAM_CURRENCY"}}, nil)
	if err != nil || cfg.Settlement.Currency != "EUR" {
		t.Fatalf("override: %v %v", cfg, err)
	}
	_, err = loadIn(t, toml, []Override{{Section: "settlement", Key: "stale_after", Value: "1h", Source: "flag --stale-after"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "flag --stale-after: settlement.stale_after: not a setting") {
		t.Fatalf("want a refused override, got %v", err)
	}
	_, err = loadIn(t, toml+"listen = \"127.0.0.1:1813\"\n", []Override{{Section: "edge", Key: "listen", Value: "127.0.0.1:99999", Source: "flag --listen"}}, nil)
	if err == nil || err.Error() != `flag --listen: edge.listen: "127.0.0.1:99999": the port must be a number from 1 to 65535` {
		t.Fatalf("want the flag named, got %v", err)
	}
}

// TestEveryCentralLoadChecksParties: a mistake in tariffs.csv is found by
// any central load, with the file's line.
func TestEveryCentralLoadChecksParties(t *testing.T) {
	bad := "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.03,0.05,0,60\n"
	dir := writeFiles(t, map[string]string{"roam.toml": "[settlement]\n", "partners.csv": goodPartners, "tariffs.csv": bad})
	_, err := Load(filepath.Join(dir, "roam.toml"), false, nil, NeedCentral|NeedParties)
	if err == nil || !strings.Contains(err.Error(), "tariffs.csv:2: increment") {
		t.Fatalf("want the tariffs.csv mistake, got %v", err)
	}
}

// TestFilesThatAreNotFiles: a secret, partners or tariffs path naming a
// FIFO or a device is a mistake reported at once, never a hang.
func TestFilesThatAreNotFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	cfg := filepath.Join(dir, "roam.toml")
	os.WriteFile(cfg, []byte("[settlement]\npartners = \"fifo\"\npublish_password_file = \"/dev/zero\"\n"), 0o644)
	done := make(chan error, 1)
	go func() {
		_, err := Load(cfg, false, nil, NeedCentral|NeedParties)
		done <- err
	}()
	select {
	case err := <-done:
		for _, want := range []string{"publish_password_file: cannot read secret file: /dev/zero: a device, not a regular file", "fifo: a named pipe (FIFO), not a regular file"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not say %q", err, want)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Load hung on a FIFO or a device")
	}
}
