package push_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/lock"
	"roamsettle/pkg/push"
	"roamsettle/pkg/spool"
)

var errCrash = errors.New("injected crash")

// members lists a batch manifest's member names, sorted.
func members(t *testing.T, mpath string) []string {
	t.Helper()
	f, err := os.Open(mpath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mr, err := batch.ReadManifest(f, mpath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		mb, err := mr.NextMember()
		if err != nil {
			break
		}
		out = append(out, mb.Name)
	}
	sort.Strings(out)
	return out
}

// checkSent says every sent/<batch>/ folder holds exactly its manifest's
// members and the manifest, that no settle is left unfinished, and
// returns every file name in sent/ batches and in ready/.
func checkSent(t *testing.T, root string) (sent, ready []string) {
	t.Helper()
	l := spool.Layout{Root: root}
	for _, b := range names(t, l.Sent()) {
		if strings.HasSuffix(b, ".settling") {
			t.Fatalf("sent/%s left behind", b)
		}
		dir := filepath.Join(l.Sent(), b)
		want := append(members(t, filepath.Join(dir, b+batch.ManifestExt)), b+batch.ManifestExt)
		sort.Strings(want)
		got := names(t, dir)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("sent/%s holds %v, want its members and manifest %v", b, got, want)
		}
		for _, n := range got {
			if n != b+batch.ManifestExt {
				sent = append(sent, n)
			}
		}
	}
	return sent, names(t, l.Ready())
}

// TestPushCrashAtEverySettleStep: a crash before any step of a settle
// (swapping ready/ out, making the new ready/, the fsyncs, midway through
// moving back the files that arrived after bundling, the manifest, the
// final rename, removing the tar) loses nothing; a listener can still
// close sessions meanwhile (even with ready/ gone), and the next run
// finishes the settle and sends what arrived as the next batch.
func TestPushCrashAtEverySettleStep(t *testing.T) {
	for _, step := range []string{"swap", "mkdir", "sync", "moveback", "manifest", "final", "tar"} {
		t.Run(step, func(t *testing.T) {
			edge, outbox := localEdge(t)
			recs := writeReady(t, edge.Spool, 10, 0)
			l := spool.Layout{Root: edge.Spool}
			arrived := false
			opt := fastOptions()
			opt.SettleHook = func(s string) error {
				if !arrived {
					// Files that reach ready/ after bundling, before the settle.
					arrived = true
					recs += writeReady(t, edge.Spool, 3, 100)
				}
				if s == step {
					return errCrash
				}
				return nil
			}
			if _, _, err := pushNow(t, edge, opt); !errors.Is(err, errCrash) {
				t.Fatalf("got %v, want the injected crash", err)
			}
			if !arrived {
				t.Fatal("the settle never ran")
			}
			if step == "mkdir" {
				if _, err := os.Stat(l.Ready()); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("ready/ after a crash before mkdir: %v", err)
				}
			}
			if r, s, _ := countRecords(t, edge.Spool); r+s != recs {
				t.Fatalf("after the crash: ready %d + sent %d records, want %d", r, s, recs)
			}
			// A listener closes a session meanwhile.
			st, err := spool.OpenStore(l)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Add(sessionRecords(200, time.Now().UTC())); err != nil {
				t.Fatal(err)
			}
			recs += 2

			if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
				t.Fatal(err)
			}
			checkCentral(t, outbox, "ISPB-0000000001", "ISPB-0000000002")
			sent, ready := checkSent(t, edge.Spool)
			if len(ready) != 0 || len(sent) != 14 {
				t.Fatalf("ready %v, %d files sent; want none, 14", ready, len(sent))
			}
			if n := len(members(t, filepath.Join(l.Sent(), "ISPB-0000000001", "ISPB-0000000001.manifest"))); n != 10 {
				t.Fatalf("first batch has %d members, want 10", n)
			}
			if r, s, _ := countRecords(t, edge.Spool); r != 0 || s != recs {
				t.Fatalf("ready %d sent %d, want 0, %d", r, s, recs)
			}
			if got := names(t, filepath.Join(edge.Spool, push.OutgoingDir)); len(got) != 0 {
				t.Fatalf("outgoing/ holds %v", got)
			}
		})
	}
}

// TestPushKeepsFilesArrivedAfterBundling: files that reach ready/ between
// bundling and settling stay in ready/ (not in sent/) for the next batch,
// also when a late record re-uses the name of a file moved back.
func TestPushKeepsFilesArrivedAfterBundling(t *testing.T) {
	edge, outbox := localEdge(t)
	recs := writeReady(t, edge.Spool, 20, 0)
	l := spool.Layout{Root: edge.Spool}
	var late []string
	opt := fastOptions()
	opt.SettleHook = func(s string) error {
		switch s {
		case "swap":
			recs += writeReady(t, edge.Spool, 4, 500)
			late = names(t, l.Ready())
		case "mkdir":
			// ready/ is swapped out: no writer may move files in now.
			held, err := readyLockHeld(l)
			if err != nil {
				return err
			}
			if !held {
				return errors.New("the ready lock is free while ready/ is swapped out")
			}
		}
		return nil
	}
	if _, _, err := pushNow(t, edge, opt); err != nil {
		t.Fatal(err)
	}
	checkCentral(t, outbox, "ISPB-0000000001")
	sent, ready := checkSent(t, edge.Spool)
	if len(sent) != 20 {
		t.Fatalf("%d files sent, want 20", len(sent))
	}
	// late holds the 20 members and the 4 late ones; only those stay.
	var want []string
	for _, n := range late {
		if !contains(sent, n) {
			want = append(want, n)
		}
	}
	if len(want) != 4 || strings.Join(ready, " ") != strings.Join(want, " ") {
		t.Fatalf("ready/ holds %v, want the 4 late files %v", ready, want)
	}
	if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
		t.Fatal(err)
	}
	checkCentral(t, outbox, "ISPB-0000000001", "ISPB-0000000002")
	if got := members(t, filepath.Join(l.Sent(), "ISPB-0000000002", "ISPB-0000000002.manifest")); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("second batch holds %v, want %v", got, want)
	}
	if r, s, _ := countRecords(t, edge.Spool); r != 0 || s != recs {
		t.Fatalf("ready %d sent %d, want 0, %d", r, s, recs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readyLockHeld says whether someone holds the ready lock, at once: a
// non-blocking flock of the same file (docs/push.md), dropped on close.
// Waiting a while for LockReady would only guess.
func readyLockHeld(l spool.Layout) (bool, error) {
	f, err := os.OpenFile(filepath.Join(l.Root, spool.ReadyLockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		return false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, nil
	default:
		return false, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
}

// TestPushWithConcurrentWriter: a listener's Store (plain and journal
// mode) keeps adding and closing sessions while push bundles and settles;
// afterwards every closed session is in exactly one place, sent/<batch>/
// as a member of that batch or ready/, and the next push sends the rest.
func TestPushWithConcurrentWriter(t *testing.T) {
	for _, journal := range []bool{false, true} {
		t.Run(fmt.Sprintf("journal=%v", journal), func(t *testing.T) {
			edge, outbox := localEdge(t)
			recs := writeReady(t, edge.Spool, 300, 0)
			l := spool.Layout{Root: edge.Spool}
			want := names(t, l.Ready())
			// Like a listener: hold .open.lock, so push does not sweep.
			lk, err := lock.Acquire(context.Background(), edge.Spool, ".open.lock", "test writer", false, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer lk.Release()
			st, err := spool.OpenStore(l)
			if err != nil {
				t.Fatal(err)
			}
			if journal {
				if err := st.UseJournal(); err != nil {
					t.Fatal(err)
				}
			}
			var (
				added   atomic.Int64
				stop    = make(chan struct{})
				wg      sync.WaitGroup
				written []string
				werr    error
			)
			base := time.Now().UTC().Add(-time.Hour)
			writerDone := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(writerDone)
				for i := 1000; ; i++ {
					select {
					case <-stop:
						if journal {
							werr = st.Close()
						}
						return
					default:
					}
					r := sessionRecords(i, base)
					if err := st.Add(r); err != nil {
						werr = err
						return
					}
					if journal {
						if err := st.Checkpoint(); err != nil {
							werr = err
							return
						}
					}
					written = append(written, spool.FileName(r[0].NAS, r[0].SessionID, r[0].SessionStart()))
					added.Add(1)
				}
			}()
			// waitMore waits until the writer has closed n more sessions,
			// and says so when it stopped or stalled instead.
			waitMore := func(n int64) error {
				from := added.Load()
				deadline := time.After(10 * time.Second)
				for added.Load() < from+n {
					select {
					case <-writerDone:
						return fmt.Errorf("the writer stopped: %v", werr)
					case <-deadline:
						return fmt.Errorf("the writer closed %d sessions in 10 s, want %d", added.Load()-from, n)
					case <-time.After(time.Millisecond):
					}
				}
				return nil
			}
			opt := fastOptions()
			opt.SettleHook = func(s string) error {
				// Sessions close just before and just after ready/ is swapped.
				if s == "swap" || s == "manifest" || s == "final" {
					return waitMore(5)
				}
				return nil
			}
			_, _, perr := pushNow(t, edge, opt)
			if perr == nil {
				perr = waitMore(5)
			}
			close(stop)
			wg.Wait()
			if perr != nil {
				t.Fatal(perr)
			}
			if werr != nil {
				t.Fatalf("writer: %v", werr)
			}
			recs += 2 * len(written)
			want = append(want, written...)
			sort.Strings(want)
			sent, ready := checkSent(t, edge.Spool)
			all := append(append([]string{}, sent...), ready...)
			sort.Strings(all)
			if strings.Join(all, " ") != strings.Join(want, " ") {
				t.Fatalf("sent + ready hold %d files, want the %d closed sessions, each once", len(all), len(want))
			}
			if len(sent) < 300 {
				t.Fatalf("%d files sent, want at least the 300 bundled", len(sent))
			}
			if r, s, _ := countRecords(t, edge.Spool); r+s != recs {
				t.Fatalf("ready %d + sent %d records, want %d", r, s, recs)
			}
			t.Logf("%d sessions written meanwhile, %d left in ready/", len(written), len(ready))
			if _, _, err := pushNow(t, edge, fastOptions()); err != nil {
				t.Fatal(err)
			}
			if len(ready) > 0 {
				checkCentral(t, outbox, "ISPB-0000000001", "ISPB-0000000002")
			}
			sent, ready = checkSent(t, edge.Spool)
			if len(ready) != 0 || len(sent) != len(want) {
				t.Fatalf("after the next push: ready %d sent %d, want 0, %d", len(ready), len(sent), len(want))
			}
		})
	}
}
