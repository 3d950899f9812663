package clean

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"roamsettle/internal/testbin"
	"roamsettle/pkg/batch"
	"roamsettle/pkg/config"
	"roamsettle/pkg/load"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// world is a central host with partners, for tests that load batches and
// clean them.
type world struct {
	t   *testing.T
	s   *config.Settlement
	seq map[string]uint64
}

func newWorld(t *testing.T) *world {
	t.Helper()
	d := t.TempDir()
	s := &config.Settlement{Inbound: filepath.Join(d, "inbound"), Archive: filepath.Join(d, "archive"),
		Quarantine: filepath.Join(d, "quarantine"), DB: filepath.Join(d, "db", "roam.db"), Partners: testPartners(t)}
	os.MkdirAll(s.Inbound, 0o755)
	return &world{t: t, s: s, seq: map[string]uint64{}}
}

// file is one spool file: the records of a session as the edge grouped them.
type file []spool.Record

// batch writes the next batch of sender into inbound/, created at created.
func (w *world) batch(sender string, created time.Time, files ...file) string {
	w.t.Helper()
	w.seq[sender]++
	seq := w.seq[sender]
	return writeBatch(w.t, w.s.Inbound, sender, seq, created, files)
}

func writeBatch(t *testing.T, dir, sender string, seq uint64, created time.Time, files []file) string {
	t.Helper()
	sp := t.TempDir()
	bw, err := batch.Create(dir, sender, seq, created)
	if err != nil {
		t.Fatal(err)
	}
	for i, recs := range files {
		p := filepath.Join(sp, fmt.Sprintf("%s_%d_%s.sess", recs[0].NAS, i, strings.NewReplacer("/", "_").Replace(recs[0].SessionID)))
		if err := spool.Append(p, recs, false); err != nil {
			t.Fatal(err)
		}
		if _, err := bw.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bw.Commit(); err != nil {
		t.Fatal(err)
	}
	return batch.Name(sender, seq)
}

// load loads what is in inbound/.
func (w *world) load() {
	w.t.Helper()
	logs := &testbin.Output{}
	if err := load.Load(context.Background(), stage.NewText("roamload", logs), w.s, load.Options{}); err != nil {
		w.t.Fatalf("load: %v\n%s", err, logs)
	}
}

// clean runs roamclean and returns its counts and error.
func (w *world) clean(opts Options) (*stage.Run, error) {
	w.t.Helper()
	logs := &testbin.Output{}
	run := stage.NewText("roamclean", logs)
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC) }
	}
	err := Clean(context.Background(), run, w.s, opts)
	if err != nil && stage.ExitCode(err) != stage.ExitAttention {
		w.t.Fatalf("clean: %v\n%s", err, logs)
	}
	return run, err
}

func (w *world) db() *sql.DB {
	w.t.Helper()
	db, err := store.Open(context.Background(), w.s.DB)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { db.Close() })
	return db.SQL()
}

// sessions dumps the sessions table, one line per session, every column
// but those named in skip.
func (w *world) sessions(skip ...string) []string {
	w.t.Helper()
	return dumpQuery(w.t, w.db(), "SELECT * FROM sessions ORDER BY session_key", skip...)
}

// outcomes dumps each raw record's lineage and outcome, by lineage.
func (w *world) outcomes() []string {
	w.t.Helper()
	var out []string
	for _, l := range dumpQuery(w.t, w.db(), `SELECT b.sender || '-' || b.sequence || ':' || m.position || ':' || r.line || ' ' ||
	r.record_status || ' ' || r.reason || ' ' || coalesce(r.pair_status, '') || ' ' || coalesce(r.session_key, '') AS o
	FROM raw r JOIN batches b USING (batch_id) JOIN members m USING (member_id)`) {
		out = append(out, strings.TrimPrefix(l, "o="))
	}
	return out
}

func dumpQuery(t *testing.T, db *sql.DB, q string, skip ...string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
	col:
		for i, c := range cols {
			for _, s := range skip {
				if s == c {
					continue col
				}
			}
			v := "NULL"
			if vals[i].Valid {
				v = vals[i].String
			}
			parts = append(parts, c+"="+v)
		}
		out = append(out, strings.Join(parts, " "))
	}
	sort.Strings(out)
	return out
}

// rec makes a spool record of nas1 at ISPB's edge.
func rec(status, sid, user string, at time.Time, sessionTime int64) spool.Record {
	r := spool.Record{StatusType: status, SessionID: sid, UserName: user, NAS: "nas1", EventTime: at,
		Received: at.Add(150 * time.Millisecond), SessionTime: sessionTime, Origin: "radius", PacketID: -1}
	if status == spool.Stop {
		r.InputOctets, r.OutputOctets, r.InputPackets, r.OutputPackets, r.TerminateCause = 5000, 9000, 50, 90, "User-Request"
	}
	return r
}
