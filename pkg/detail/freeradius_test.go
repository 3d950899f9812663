package detail_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/freeradiustest"
	"roamsettle/internal/testbin"
	"roamsettle/pkg/config"
	"roamsettle/pkg/detail"
	"roamsettle/pkg/sim"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

// TestRealFreeRADIUS sends roamsim's traffic to a real FreeRADIUS with the
// real radclient, imports the detail file FreeRADIUS wrote, and checks that
// it holds the same records as roamsim's own detail output.
func TestRealFreeRADIUS(t *testing.T) {
	srv := freeradiustest.Start(t)
	radclient := testbin.Require(t, "radclient", "/usr/bin/radclient")
	dir := t.TempDir()

	partners, err := config.ParsePartners(strings.NewReader("id,name,country,realms,timezone\n"+
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com,Australia/Sydney\n"), "partners.csv")
	if err != nil {
		t.Fatal(err)
	}
	o := sim.Options{Partners: partners, ISP: "ISPB", Sessions: 60, Seed: 5,
		Start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Days: 2, NASIP: netip.MustParseAddr("192.0.2.10"), NASID: "nas1"}
	var input, own bytes.Buffer
	st, err := sim.Write(&input, o, sim.Radclient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Write(&own, o, sim.Detail); err != nil {
		t.Fatal(err)
	}
	inFile := filepath.Join(dir, "acct.txt")
	if err := os.WriteFile(inFile, input.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(radclient, "-f", inFile, "-q", "-r", "5", "-t", "5",
		srv.Addr, "acct", freeradiustest.Secret).CombinedOutput()
	if err != nil {
		t.Fatalf("radclient: %v\n%s\nserver:\n%s", err, out, srv.LogText())
	}

	// Import what FreeRADIUS wrote. The NAS is known by its NAS-IP-Address;
	// the packets came from 127.0.0.1, which is no configured NAS.
	file := srv.Detail
	edge := &config.Edge{ISP: "ISPB", Spool: filepath.Join(dir, "spool"),
		NAS: []config.NAS{{Name: "nas1", Address: netip.MustParseAddr("192.0.2.10")}}}
	run := newRun(t)
	if err := detail.Import(context.Background(), run, edge, []string{file}); err != nil {
		t.Fatal(err)
	}
	if run.Count("imported") != st.Records || run.Count("malformed") != 0 {
		t.Fatalf("imported %d of %d records, %d malformed", run.Count("imported"), st.Records, run.Count("malformed"))
	}

	t.Logf("FreeRADIUS wrote %d records; all imported", st.Records)

	// The spool holds what roamsim's own detail file says, but for the
	// receipt time (now) and the packet source.
	m, err := detail.NewMapper(edge)
	if err != nil {
		t.Fatal(err)
	}
	want := keys(t, m, own.Bytes())
	var got []string
	for _, sub := range []string{spool.OpenDir, spool.ReadyDir} {
		names, _ := filepath.Glob(filepath.Join(edge.Spool, sub, "*"))
		for _, n := range names {
			recs, err := spool.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Source == "" || !strings.HasPrefix(r.Origin, "detail "+file+":") {
					t.Errorf("record %+v: no packet source or origin", r)
				}
				got = append(got, key(r))
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("FreeRADIUS's detail file and roamsim's differ:\n got %d records %.500q\nwant %d records %.500q", len(got), got, len(want), want)
	}
}

func key(r spool.Record) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d|%d|%d|%d|%s|%s|%s|%s|%s", r.StatusType, r.SessionID, r.UserName, r.EventTime.Format(time.RFC3339),
		r.SessionTime, r.DelayTime, r.InputOctets, r.OutputOctets, r.NAS, r.NASPort, r.CallingStation, r.TerminateCause, r.NASIdentifier)
}

func keys(t *testing.T, m *detail.Mapper, data []byte) []string {
	p := detail.NewParser(bytes.NewReader(data), "own", 0, 0)
	var out []string
	for {
		e, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := m.Record(e, "own")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, key(r))
	}
	slices.Sort(out)
	return out
}

func newRun(t *testing.T) *stage.Run { return stage.NewText("roamcollect import", io.Discard) }
