package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParsePartners(f *testing.F) {
	f.Add([]byte(goodPartners))
	f.Add([]byte("id,name,country,realms,timezone\nX,\"a\"\"b\",C,r,UTC\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePartners(strings.NewReader(string(b)), "partners.csv")
		if err != nil {
			if !strings.Contains(err.Error(), "partners.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, x := range p.List {
			if x.Timezone == nil || len(x.Realms) == 0 {
				t.Fatalf("accepted an incomplete partner %+v", x)
			}
		}
	})
}

func FuzzParseTariffs(f *testing.F) {
	f.Add([]byte(goodTariffs))
	f.Add([]byte("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,Fri,23:00-01:00,1,1,1,0\n"))
	p, err := ParsePartners(strings.NewReader(goodPartners), "partners.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseTariffs(strings.NewReader(string(b)), "tariffs.csv", p)
		if err != nil {
			if !strings.Contains(err.Error(), "tariffs.csv") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, x := range ts.List {
			if x.Increment <= 0 || x.Minimum < 0 {
				t.Fatalf("accepted a bad row %+v", x)
			}
		}
	})
}

func FuzzLoadTOML(f *testing.F) {
	f.Add([]byte(goodTOML))
	f.Add([]byte("[edge]\nisp = \"X\"\n[[edge.nas]]\nname = 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "roam.toml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, false, nil, NeedEdge|NeedCentral)
		if err != nil && !strings.Contains(err.Error(), "roam.toml") && !strings.Contains(err.Error(), "partners") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
