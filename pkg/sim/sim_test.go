package sim

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/detail"
	"roamsettle/pkg/spool"
)

const partnersCSV = `id,name,country,realms,timezone
ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles
ISPB,Connect.com,Australia,connect.com.au connect.com,Australia/Sydney
ISPC,Eunet,Finland,eunet.fi,Europe/Helsinki
`

func options(t testing.TB, sessions int, seed uint64) Options {
	t.Helper()
	p, err := config.ParsePartners(strings.NewReader(partnersCSV), "partners.csv")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Partners: p, ISP: "ISPB", Sessions: sessions, Seed: seed,
		Start: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Days: 30,
		NASIP: netip.MustParseAddr("127.0.0.1"), NASID: "nas1"}
}

func output(t testing.TB, o Options, f Format) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := Write(&b, o, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	for _, f := range []Format{Detail, Radclient} {
		a, b := output(t, options(t, 500, 42), f), output(t, options(t, 500, 42), f)
		if !bytes.Equal(a, b) {
			t.Errorf("format %d: same seed, different output", f)
		}
		if c := output(t, options(t, 500, 43), f); bytes.Equal(a, c) {
			t.Errorf("format %d: different seeds, same output", f)
		}
	}
}

// The detail output is what FreeRADIUS writes: every record parses and
// maps to a spool record, and it has the noise the central stages handle.
func TestDetailImports(t *testing.T) {
	o := options(t, 3000, 7)
	data := output(t, o, Detail)
	m, err := detail.NewMapper(&config.Edge{ISP: "ISPB", NAS: []config.NAS{{Name: "nas1", Address: o.NASIP}}})
	if err != nil {
		t.Fatal(err)
	}
	p := detail.NewParser(bytes.NewReader(data), "sim", 0, 0)
	var (
		n, dups, noStop, homeLocal, unknown, reused, zero, giga int
		ons                                                     int
		last                                                    time.Time
		seen                                                    = map[string]bool{}
		starts                                                  = map[string]time.Time{}
		stopped                                                 = map[string]bool{}
		startsSeen                                              = map[string]int{}
	)
	for {
		e, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Err != nil {
			t.Fatal(e.Err)
		}
		r, err := m.Record(e, "sim")
		if err != nil {
			t.Fatalf("line %d: %v", e.Line, err)
		}
		n++
		if r.Received.Before(last) {
			t.Fatalf("line %d: receipt times go back", e.Line)
		}
		last = r.Received
		key := r.SessionID + r.StatusType + r.EventTime.String()
		if seen[key] {
			dups++
		}
		seen[key] = true
		switch r.StatusType {
		case spool.AccountingOn:
			ons++
		case spool.Start:
			if end := o.Start.AddDate(0, 0, o.Days); r.EventTime.Before(o.Start) || !r.EventTime.Before(end) {
				t.Errorf("line %d: session starts at %v, outside the period", e.Line, r.EventTime)
			}
			startsSeen[r.SessionID]++
			if startsSeen[r.SessionID] == 2 && !starts[r.SessionID].Equal(r.EventTime) {
				reused++
			}
			starts[r.SessionID] = r.EventTime
			if strings.HasSuffix(r.UserName, "@connect.com") || strings.HasSuffix(r.UserName, "@connect.com.au") {
				homeLocal++
			}
			if strings.Contains(r.UserName, "unknown-realm") {
				unknown++
			}
		case spool.Stop:
			stopped[r.SessionID+starts[r.SessionID].String()] = true
			if r.SessionTime == 0 {
				zero++
			}
		}
		if r.InputOctets > 1<<32 {
			giga++
		}
	}
	for id, st := range starts {
		if !stopped[id+st.String()] {
			noStop++
		}
	}
	t.Logf("records %d: Accounting-On %d, duplicates %d, reused ids %d, without Stop %d, home=local %d, unknown realm %d, zero length %d, gigawords %d",
		n, ons, dups, reused, noStop, homeLocal, unknown, zero, giga)
	if ons == 0 || dups == 0 || reused == 0 || noStop == 0 || homeLocal == 0 || unknown == 0 || zero == 0 || giga == 0 {
		t.Error("some kind of noise is missing")
	}
	if n < 3000*2 {
		t.Errorf("only %d records for 3000 sessions", n)
	}
}

// radclient input holds the same records as the detail file, minus the
// header and the Timestamp FreeRADIUS adds.
func TestRadclientMatchesDetail(t *testing.T) {
	o := options(t, 200, 3)
	d := string(output(t, o, Detail))
	r := string(output(t, o, Radclient))
	var want []string
	for _, rec := range strings.Split(strings.TrimSuffix(d, "\n\n"), "\n\n") {
		lines := strings.Split(rec, "\n")[1:]
		var keep []string
		for _, l := range lines {
			l = strings.TrimPrefix(l, "\t")
			switch {
			case strings.HasPrefix(l, "Timestamp = "):
				continue
			case strings.HasPrefix(l, "Event-Timestamp = "):
				continue
			}
			keep = append(keep, l)
		}
		want = append(want, strings.Join(keep, "\n"))
	}
	var got []string
	for _, rec := range strings.Split(strings.TrimSuffix(r, "\n\n"), "\n\n") {
		var keep []string
		for _, l := range strings.Split(rec, "\n") {
			if !strings.HasPrefix(l, "Event-Timestamp = ") {
				keep = append(keep, l)
			}
		}
		got = append(got, strings.Join(keep, "\n"))
	}
	if strings.Join(got, "\n\n") != strings.Join(want, "\n\n") {
		t.Errorf("radclient input differs from the detail file")
	}
	if strings.Contains(r, "\t") {
		t.Errorf("radclient input must not be indented")
	}
}

// A million records stream: memory is bounded by the sessions open at
// once, not by the length of the run.
func TestStreamsAMillionRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	st, err := Write(io.Discard, options(t, 280000, 1), Detail)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records < 1000000 {
		t.Fatalf("only %d records", st.Records)
	}
	if st.MaxPending > 20000 {
		t.Errorf("%d events waited at once: the generator does not stream", st.MaxPending)
	}
	t.Logf("%d records, at most %d events pending", st.Records, st.MaxPending)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestErrors(t *testing.T) {
	o := options(t, 100, 1)
	if _, err := Write(failWriter{}, o, Detail); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write error: %v", err)
	}
	bad := o
	bad.ISP = "NOPE"
	if _, err := Write(io.Discard, bad, Detail); err == nil || !strings.Contains(err.Error(), `"NOPE"`) {
		t.Errorf("unknown ISP: %v", err)
	}
	bad = o
	bad.Days = 0
	if _, err := Write(io.Discard, bad, Detail); err == nil {
		t.Error("zero days accepted")
	}
}
