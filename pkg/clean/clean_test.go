package clean

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

var day = time.Date(2026, 7, 10, 8, 0, 0, 0, time.UTC)

func TestCleanRunsAndLateStop(t *testing.T) {
	w := newWorld(t)
	created := day.Add(24 * time.Hour)
	retrans := rec(spool.Stop, "s1", "user1@aimnet.com", day.Add(5*time.Minute), 300)
	retrans.Received, retrans.DelayTime = retrans.Received.Add(4*time.Second), 4
	interim := rec(spool.Interim, "s2", "user2@aimnet.com", day.Add(10*time.Minute), 600)
	interim.InputOctets = 777
	w.batch("ISPB", created,
		file{rec(spool.Start, "s1", "user1@aimnet.com", day, 0), rec(spool.Stop, "s1", "user1@aimnet.com", day.Add(5*time.Minute), 300)},
		file{retrans},
		file{rec(spool.Start, "s2", "user2@aimnet.com", day, 0), interim},
		file{{StatusType: spool.AccountingOn, NAS: "nas1", EventTime: day.Add(-time.Hour), Received: day.Add(-time.Hour), Origin: "radius", PacketID: -1}},
		file{rec(spool.Stop, "s3", "user3@nowhere.org", day.Add(time.Minute), 60)},
		file{rec(spool.Start, "s4", "local@connect.com", day, 0), rec(spool.Stop, "s4", "local@connect.com", day.Add(time.Minute), 60)},
	)
	w.load()
	run, err := w.clean(Options{})
	if stage.ExitCode(err) != stage.ExitAttention {
		t.Fatalf("want exit 3 for the rejected record, got %v", err)
	}
	for name, want := range map[string]int64{countIn: 9, countSession: 4, countDuplicates: 1, countIrrelevant: 3, countRejected: 1,
		countAdded: 2, "reason_unknown_realm": 1, "reason_home_is_local": 2, "reason_accounting_on_off": 1} {
		if got := run.Count(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	s := w.sessions()
	if len(s) != 2 || !strings.Contains(s[1], "session_key=ISPB|nas1|20260710T080000Z|s2") || !strings.Contains(s[1], "estimated=1") ||
		!strings.Contains(s[1], "duration=600") || !strings.Contains(s[1], "revision=1") || !strings.Contains(s[1], "input_octets=777") {
		t.Fatalf("sessions:\n%s", strings.Join(s, "\n"))
	}
	if !strings.Contains(s[0], "user_name=user1@aimnet.com") || !strings.Contains(s[0], "home_isp=ISPA") || !strings.Contains(s[0], "local_isp=ISPB") ||
		!strings.Contains(s[0], "start_local=2026-07-10T18:00:00.000000000+10:00") || !strings.Contains(s[0], "period=2026-07") {
		t.Errorf("session s1: %s", s[0])
	}

	// A run with nothing new changes nothing.
	before := w.outcomes()
	if run, err := w.clean(Options{}); err != nil || run.Count(countIn) != 0 {
		t.Fatalf("second run: %v, %d records", err, run.Count(countIn))
	}
	if after := w.outcomes(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("a run with nothing new changed outcomes")
	}

	// The late Stop of s2 arrives in a second batch: it replaces the
	// estimate (same key, revision 2), the interim is superseded.
	w.batch("ISPB", created.Add(24*time.Hour), file{rec(spool.Stop, "s2", "user2@aimnet.com", day.Add(20*time.Minute), 1200)})
	w.load()
	run, err = w.clean(Options{})
	if err != nil || run.Count(countIn) != 1 || run.Count(countChanged) != 1 || run.Count(countReclass) != 1 {
		t.Fatalf("late stop: %v, in %d changed %d reclassified %d", err, run.Count(countIn), run.Count(countChanged), run.Count(countReclass))
	}
	s = w.sessions()
	if !strings.Contains(s[1], "estimated=0") || !strings.Contains(s[1], "duration=1200") || !strings.Contains(s[1], "revision=2") {
		t.Errorf("s2 after its Stop: %s", s[1])
	}
	out := strings.Join(w.outcomes(), "\n")
	for _, want := range []string{"ISPB-1:3:3 irrelevant SUPERSEDED interim ISPB|nas1|20260710T080000Z|s2", "ISPB-2:1:2 session SESSION stop ISPB|nas1|20260710T080000Z|s2",
		"ISPB-1:2:2 duplicate DUPLICATE  ISPB|nas1|20260710T080000Z|s1", "ISPB-1:5:2 rejected UNKNOWN_REALM"} {
		if !strings.Contains(out, want) {
			t.Errorf("outcomes lack %q:\n%s", want, out)
		}
	}
	var changes string
	w.db().QueryRow("SELECT group_concat(run_id || ' ' || change || ' ' || session_key, '; ') FROM session_changes").Scan(&changes)
	if changes != "3 changed ISPB|nas1|20260710T080000Z|s2" {
		t.Errorf("session changes: %s", changes)
	}

	// A rebuild gives the very same rows, and records no change.
	sessions, outcomes := w.sessions(), w.outcomes()
	run, _ = w.clean(Options{Rebuild: true})
	if run.Count(countAdded)+run.Count(countChanged)+run.Count(countRemoved)+run.Count(countReclass) != 0 || run.Count(countIn) != 10 {
		t.Errorf("rebuild changed things: %v", run)
	}
	if got := w.sessions(); strings.Join(got, "\n") != strings.Join(sessions, "\n") {
		t.Errorf("rebuild differs:\n%s\nwas\n%s", strings.Join(got, "\n"), strings.Join(sessions, "\n"))
	}
	if got := w.outcomes(); strings.Join(got, "\n") != strings.Join(outcomes, "\n") {
		t.Errorf("rebuild changed outcomes")
	}
}

// traffic makes random sessions for the property test: Starts, interims,
// Stops, missing Stops, retransmissions, reused ids, NAS reboots, other
// realms, spread over batches of two senders.
func traffic(rng *rand.Rand) map[string][][]file {
	realms := []string{"aimnet.com", "AIMNET.com", "connect.com.au", "example.net", "nowhere.org"}
	out := map[string][][]file{}
	for _, sender := range []string{"ISPB", "ISPC"} {
		nBatches := 3 + rng.IntN(3)
		batches := make([][]file, nBatches)
		put := func(f file) { b := rng.IntN(nBatches); batches[b] = append(batches[b], f) }
		t := day
		for i := 0; i < 60; i++ {
			t = t.Add(time.Duration(rng.IntN(600)) * time.Second)
			nas := fmt.Sprintf("nas%d", 1+rng.IntN(2))
			sid := fmt.Sprintf("%X", rng.IntN(20)) // reused often
			user := fmt.Sprintf("u%d@%s", rng.IntN(5), realms[rng.IntN(len(realms))])
			r := func(status string, at time.Time, st int64) spool.Record {
				x := rec(status, sid, user, at, st)
				x.NAS = nas
				return x
			}
			dur := int64(rng.IntN(4000))
			var f file
			f = append(f, r(spool.Start, t, 0))
			if rng.IntN(2) == 0 {
				f = append(f, r(spool.Interim, t.Add(time.Duration(dur/2)*time.Second), dur/2))
			}
			stop := r(spool.Stop, t.Add(time.Duration(dur)*time.Second), dur)
			switch rng.IntN(5) {
			case 0: // no Stop: estimated
			case 1: // the Stop comes late, in its own file
				put(file{stop})
			case 2: // retransmitted
				f = append(f, stop)
				again := stop
				again.DelayTime, again.Received = 3, stop.Received.Add(3*time.Second)
				put(file{again})
			default:
				f = append(f, stop)
			}
			put(f)
			if rng.IntN(15) == 0 {
				put(file{{StatusType: spool.AccountingOn, NAS: nas, EventTime: t.Add(time.Minute), Received: t.Add(time.Minute), Origin: "radius", PacketID: -1}})
			}
		}
		for i := range batches {
			if len(batches[i]) == 0 {
				batches[i] = append(batches[i], file{rec(spool.Stop, "filler", "f@aimnet.com", day, 1)})
			}
		}
		out[sender] = batches
	}
	return out
}

// TestCleanOrderDoesNotMatter: the same batches loaded and cleaned in
// shuffled orders, with a run after each load, give the same sessions and
// outcomes; a rebuild gives exactly the incremental rows; every run balances
// (Clean fails otherwise).
func TestCleanOrderDoesNotMatter(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			tr := traffic(rand.New(rand.NewPCG(seed, 0)))
			var first []string
			var firstOut []string
			for order := 0; order < 3; order++ {
				rng := rand.New(rand.NewPCG(seed, uint64(order)))
				type pending struct {
					sender string
					seq    uint64
					files  []file
				}
				var all []pending
				for _, sender := range []string{"ISPB", "ISPC"} {
					for i, f := range tr[sender] {
						all = append(all, pending{sender, uint64(i + 1), f})
					}
				}
				if order > 0 {
					rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
				}
				w := newWorld(t)
				created := day.Add(30 * 24 * time.Hour)
				for i, b := range all {
					writeBatch(t, w.s.Inbound, b.sender, b.seq, created.Add(time.Duration(b.seq)*time.Hour), b.files)
					if i%2 == 1 || i == len(all)-1 {
						w.load()
						w.clean(Options{ChunkRecords: 7})
					}
				}
				got := w.sessions("start_entry_id", "final_entry_id", "digest", "revision")
				gotOut := w.outcomes()
				if order == 0 {
					first, firstOut = got, gotOut
					if len(first) == 0 {
						t.Fatal("no sessions")
					}
				} else {
					if strings.Join(got, "\n") != strings.Join(first, "\n") {
						t.Errorf("order %d gives other sessions:\n%s\nthan order 0:\n%s", order, diff(got, first), diff(first, got))
					}
					if strings.Join(gotOut, "\n") != strings.Join(firstOut, "\n") {
						t.Errorf("order %d gives other outcomes:\n%s\nthan order 0:\n%s", order, diff(gotOut, firstOut), diff(firstOut, gotOut))
					}
				}
				incremental := w.sessions()
				run, _ := w.clean(Options{Rebuild: true})
				if rebuilt := w.sessions(); strings.Join(rebuilt, "\n") != strings.Join(incremental, "\n") {
					t.Errorf("order %d: rebuild differs from the incremental runs:\n%s\nincremental:\n%s", order, diff(rebuilt, incremental), diff(incremental, rebuilt))
				}
				if n := run.Count(countAdded) + run.Count(countChanged) + run.Count(countRemoved) + run.Count(countReclass); n != 0 {
					t.Errorf("order %d: rebuild made %d changes", order, n)
				}
			}
		})
	}
}

// diff lists the lines of a not in b.
func diff(a, b []string) string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return strings.Join(out, "\n")
}
