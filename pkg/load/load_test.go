package load

import (
	"bytes"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roamsettle/pkg/config"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

const b1, b2, b3 = "ISPB-0000000001", "ISPB-0000000002", "ISPB-0000000003"

// editFile applies a byte substitution to a file, failing when old is absent.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// manifestLine returns the line of the manifest starting with key.
func manifestLine(t *testing.T, path, key string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, key) {
			return l
		}
	}
	t.Fatalf("%s: no line %q", path, key)
	return ""
}

// loadFirst loads batch 1 (sessions 0-2) in a run of its own.
func loadFirst(t *testing.T, s *config.Settlement) {
	t.Helper()
	makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
	if r := load(t, s, Options{}); r.err != nil || r.counts[countLoaded] != 1 {
		t.Fatalf("first load: %v %v\n%s", r.err, r.counts, r.logs)
	}
}

func TestChecks(t *testing.T) {
	in := func(s *config.Settlement, name string) string { return filepath.Join(s.Inbound, name) }
	tests := []struct {
		name       string
		setup      func(t *testing.T, s *config.Settlement)
		want       map[string]int64 // counts of the (last) run
		attention  bool
		reason     []string // the .reason file of b1 says all of these
		rows       int64    // raw rows after the run
		inbound    string   // what is left in inbound/
		quarantine string   // what is in quarantine/
	}{
		{
			name:  "whole batch loads and is archived",
			setup: func(t *testing.T, s *config.Settlement) { makeBatch(t, s.Inbound, "ISPB", 1, 0, 3) },
			want:  map[string]int64{countBatches: 1, countLoaded: 1, countRecords: 6},
			rows:  6,
		},
		{
			name: "tampered member data",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				editFile(t, in(s, b1+".tar"), "User-Request", "User-Reqxest")
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{b1 + ".tar: member nas1_20260630T180000Z_4D2A0000.sess:3", "field crc"},
		},
		{
			name: "member checksum does not match the manifest",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				mp := in(s, b1+".manifest")
				l := manifestLine(t, mp, "member ")
				bad := l[:7] + strings.Repeat("0", 64) + l[71:]
				editFile(t, mp, l, bad)
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{"member nas1_20260630T180000Z_4D2A0000.sess: SHA-256", "manifest says 0000"},
		},
		{
			name: "truncated tar",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				if err := os.Truncate(in(s, b1+".tar"), 1700); err != nil {
					t.Fatal(err)
				}
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{b1 + ".tar"},
		},
		{
			name: "control total mismatch",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				editFile(t, in(s, b1+".manifest"), "session_time_sum 183\n", "session_time_sum 184\n")
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{"control totals differ", "session_time_sum 183, manifest says 184"},
		},
		{
			name: "record count mismatch",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				editFile(t, in(s, b1+".manifest"), "\nrecords 6\n", "\nrecords 7\n")
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{"records 6, manifest says 7"},
		},
		{
			name: "manifest cut short",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				editFile(t, in(s, b1+".manifest"), "\nend\n", "\n")
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{b1 + ".manifest", "cut short"},
		},
		{
			name: "manifest without its tar",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
				os.Remove(in(s, b1+".tar"))
			},
			want:       map[string]int64{countBatches: 1, countQuarantined: 1},
			attention:  true,
			reason:     []string{b1 + ".tar", "no such file"},
			quarantine: b1 + ".manifest " + b1 + ".reason",
		},
		{
			name: "counter larger than SQLite holds",
			setup: func(t *testing.T, s *config.Settlement) {
				recs := sessionRecords(0, base)
				recs[1].InputOctets = math.MaxUint64
				makeBatchOf(t, s.Inbound, t.TempDir(), "ISPB", 1, [][]spool.Record{sessionRecords(1, base), recs})
			},
			// A legal 64-bit counter (Gigawords and Octets both 2^32-1)
			// SQLite cannot hold: the record's problem, recorded on its
			// row for roamclean (BAD_COUNTER); the batch loads whole.
			want: map[string]int64{countBatches: 1, countLoaded: 1, countRecords: 4, countProblems: 1},
			rows: 4,
		},
		{
			name: "temporary upload names are ignored",
			setup: func(t *testing.T, s *config.Settlement) {
				dir := t.TempDir()
				makeBatch(t, dir, "ISPB", 1, 0, 3)
				copyFile(t, filepath.Join(dir, b1+".tar"), in(s, "."+b1+".tar.tmp-123"))
				copyFile(t, filepath.Join(dir, b1+".manifest"), in(s, "."+b1+".manifest.tmp-456"))
				copyFile(t, filepath.Join(dir, b1+".manifest"), in(s, "ISPB-1.manifest"))
			},
			want:    map[string]int64{},
			inbound: "." + b1 + ".manifest.tmp-456 ." + b1 + ".tar.tmp-123 ISPB-1.manifest",
		},
		{
			name: "a tar without its manifest is left alone",
			setup: func(t *testing.T, s *config.Settlement) {
				dir := t.TempDir()
				makeBatch(t, dir, "ISPB", 1, 0, 3)
				copyFile(t, filepath.Join(dir, b1+".tar"), in(s, b1+".tar"))
			},
			want:    map[string]int64{},
			inbound: b1 + ".tar",
		},
		{
			name: "same sequence, same content: a copy",
			setup: func(t *testing.T, s *config.Settlement) {
				loadFirst(t, s)
				copyFile(t, filepath.Join(s.Archive, b1+".tar"), in(s, b1+".tar"))
				copyFile(t, filepath.Join(s.Archive, b1+".manifest"), in(s, b1+".manifest"))
			},
			want: map[string]int64{countBatches: 1, countCopies: 1},
			rows: 6,
		},
		{
			name: "same sequence, different content",
			setup: func(t *testing.T, s *config.Settlement) {
				loadFirst(t, s)
				makeBatch(t, s.Inbound, "ISPB", 1, 5, 3)
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{"sequence 1 of ISPB was already loaded with different content", "batch_id 1"},
			rows:      6,
		},
		{
			name: "same manifest as a loaded batch, damaged data",
			setup: func(t *testing.T, s *config.Settlement) {
				loadFirst(t, s)
				copyFile(t, filepath.Join(s.Archive, b1+".tar"), in(s, b1+".tar"))
				copyFile(t, filepath.Join(s.Archive, b1+".manifest"), in(s, b1+".manifest"))
				editFile(t, in(s, b1+".tar"), "User-Request", "User-Reqxest")
			},
			want:      map[string]int64{countBatches: 1, countQuarantined: 1},
			attention: true,
			reason:    []string{"copy of batch_id 1", "different data"},
			rows:      6,
		},
		{
			name: "a gap is a warning",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 2)
				makeBatch(t, s.Inbound, "ISPB", 3, 2, 2)
			},
			want: map[string]int64{countBatches: 2, countLoaded: 2, countRecords: 8, countGaps: 1},
			rows: 8,
		},
		{
			name: "a bad batch does not stop the others",
			setup: func(t *testing.T, s *config.Settlement) {
				makeBatch(t, s.Inbound, "ISPB", 1, 0, 2)
				makeBatch(t, s.Inbound, "ISPB", 2, 2, 2)
				editFile(t, in(s, b1+".manifest"), "\nrecords 4\n", "\nrecords 5\n")
			},
			want:      map[string]int64{countBatches: 2, countQuarantined: 1, countLoaded: 1, countRecords: 4, countGaps: 1},
			attention: true,
			reason:    []string{"records 4, manifest says 5"},
			rows:      4,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := central(t)
			tc.setup(t, s)
			r := load(t, s, Options{})
			var att *stage.AttentionError
			if got := errors.As(r.err, &att); got != tc.attention || (r.err != nil && !got) {
				t.Fatalf("error %v, want attention %v\n%s", r.err, tc.attention, r.logs)
			}
			for _, c := range []string{countBatches, countLoaded, countCopies, countQuarantined, countRecords, countProblems, countGaps, countSkipped, countStuck} {
				if r.counts[c] != tc.want[c] {
					t.Errorf("count %s = %d, want %d", c, r.counts[c], tc.want[c])
				}
			}
			if tc.reason != nil {
				data, err := os.ReadFile(filepath.Join(s.Quarantine, b1+ReasonExt))
				if err != nil {
					t.Fatalf("no reason file: %v (quarantine: %s)\n%s", err, files(t, s.Quarantine), r.logs)
				}
				for _, want := range tc.reason {
					if !strings.Contains(string(data), want) {
						t.Errorf("reason does not say %q:\n%s", want, data)
					}
				}
				if !strings.Contains(r.err.Error(), b1) {
					t.Errorf("error does not name the batch: %v", r.err)
				}
			}
			if got := files(t, s.Inbound); got != tc.inbound {
				t.Errorf("inbound/ holds %q, want %q", got, tc.inbound)
			}
			wantQ := tc.quarantine
			if wantQ == "" && tc.want[countQuarantined] > 0 {
				wantQ = b1 + ".manifest " + b1 + ".reason " + b1 + ".tar"
			}
			if got := files(t, s.Quarantine); got != wantQ {
				t.Errorf("quarantine/ holds %q, want %q", got, wantQ)
			}
			if _, err := os.Stat(s.DB); err == nil {
				if got := queryInt(t, s, "SELECT count(*) FROM raw"); got != tc.rows {
					t.Errorf("raw has %d rows, want %d", got, tc.rows)
				}
			} else if tc.rows != 0 {
				t.Errorf("no database, want %d rows", tc.rows)
			}
		})
	}
}

func TestCopyIsKeptBesideTheOriginal(t *testing.T) {
	s := central(t)
	loadFirst(t, s)
	for i := 0; i < 2; i++ {
		copyFile(t, filepath.Join(s.Archive, b1+".tar"), filepath.Join(s.Inbound, b1+".tar"))
		copyFile(t, filepath.Join(s.Archive, b1+".manifest"), filepath.Join(s.Inbound, b1+".manifest"))
		if r := load(t, s, Options{}); r.err != nil || r.counts[countCopies] != 1 {
			t.Fatalf("copy run %d: %v %v", i, r.err, r.counts)
		}
	}
	want := b1 + ".manifest " + b1 + ".tar " + b1 + "~2.manifest " + b1 + "~2.tar " + b1 + "~3.manifest " + b1 + "~3.tar"
	if got := files(t, s.Archive); got != want {
		t.Errorf("archive/ holds %q, want %q", got, want)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM batches"); n != 1 {
		t.Errorf("%d batches recorded, want 1", n)
	}
}

func TestOrderAndLineage(t *testing.T) {
	s := central(t)
	makeBatch(t, s.Inbound, "ISPB", 2, 3, 1)
	makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
	makeBatch(t, s.Inbound, "ISPA", 1, 10, 2)
	if r := load(t, s, Options{}); r.err != nil || r.counts[countLoaded] != 3 || r.counts[countGaps] != 0 {
		t.Fatalf("%v %v\n%s", r.err, r.counts, r.logs)
	}
	db := openDB(t, s).SQL()
	rows, err := db.Query("SELECT sender || '-' || sequence, first_entry_id, last_entry_id, files, records FROM batches ORDER BY batch_id")
	if err != nil {
		t.Fatal(err)
	}
	type span struct {
		name                string
		first, last, nf, nr int64
	}
	var spans []span
	var got []string
	for rows.Next() {
		var b span
		if err := rows.Scan(&b.name, &b.first, &b.last, &b.nf, &b.nr); err != nil {
			t.Fatal(err)
		}
		spans = append(spans, b)
		got = append(got, b.name)
	}
	rows.Close()
	for _, b := range spans { // the rows of a batch are its entry id range
		var inRange int64
		db.QueryRow("SELECT count(*) FROM raw r JOIN batches b USING (batch_id) WHERE b.sender || '-' || b.sequence = ? AND r.entry_id BETWEEN ? AND ?", b.name, b.first, b.last).Scan(&inRange)
		if inRange != b.nr || b.last-b.first+1 != b.nr {
			t.Errorf("batch %s: entry ids %d-%d hold %d of its %d rows", b.name, b.first, b.last, inRange, b.nr)
		}
	}
	if strings.Join(got, " ") != "ISPA-1 ISPB-1 ISPB-2" {
		t.Errorf("load order %v", got)
	}
	// Every row's lineage leads to its member and line.
	var bad int64
	db.QueryRow(`SELECT count(*) FROM raw r JOIN members m USING (member_id)
		WHERE m.batch_id != r.batch_id OR r.line < 2 OR r.line > m.records + 1`).Scan(&bad)
	if bad != 0 {
		t.Errorf("%d rows with bad lineage", bad)
	}
}

func TestMemberWithoutRecords(t *testing.T) {
	s := central(t)
	makeBatchOf(t, s.Inbound, t.TempDir(), "ISPB", 1, [][]spool.Record{sessionRecords(0, base), {}, sessionRecords(1, base)})
	if r := load(t, s, Options{}); r.err != nil || r.counts[countRecords] != 4 {
		t.Fatalf("%v %v\n%s", r.err, r.counts, r.logs)
	}
	db := openDB(t, s).SQL()
	rows, err := db.Query("SELECT member_id, position, name, records FROM members ORDER BY position")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, pos, n int64
		var name string
		rows.Scan(&id, &pos, &name, &n)
		got = append(got, strings.Join([]string{name, string(rune('0' + pos)), string(rune('0' + n))}, "/"))
		if id != pos {
			t.Errorf("member %s: id %d, position %d", name, id, pos)
		}
	}
	want := "nas1_20260630T180000Z_4D2A0000.sess/1/2 empty.sess/2/0 nas2_20260630T180007Z_4D2A0001.sess/3/2"
	if strings.Join(got, " ") != want {
		t.Errorf("members %v, want %s", got, want)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	s := central(t)
	makeBatch(t, s.Inbound, "ISPB", 1, 0, 2)
	makeBatch(t, s.Inbound, "ISPB", 2, 2, 2)
	editFile(t, filepath.Join(s.Inbound, b2+".manifest"), "\nrecords 4\n", "\nrecords 5\n")
	before := files(t, s.Inbound)
	r := load(t, s, Options{DryRun: true})
	var att *stage.AttentionError
	if !errors.As(r.err, &att) || r.counts[countLoaded] != 1 || r.counts[countQuarantined] != 1 || r.counts[countRecords] != 4 {
		t.Fatalf("%v %v\n%s", r.err, r.counts, r.logs)
	}
	if got := files(t, s.Inbound); got != before {
		t.Errorf("inbound/ changed: %q", got)
	}
	for _, d := range []string{s.Archive, s.Quarantine, filepath.Dir(s.DB)} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("dry run created %s", d)
		}
	}
	// With a database: a copy and a gap are seen, still nothing moves.
	r = load(t, s, Options{}) // loads 1, quarantines 2
	makeBatch(t, s.Inbound, "ISPB", 4, 9, 1)
	copyFile(t, filepath.Join(s.Archive, b1+".tar"), filepath.Join(s.Inbound, b1+".tar"))
	copyFile(t, filepath.Join(s.Archive, b1+".manifest"), filepath.Join(s.Inbound, b1+".manifest"))
	before = files(t, s.Inbound)
	r = load(t, s, Options{DryRun: true})
	if r.err != nil || r.counts[countCopies] != 1 || r.counts[countLoaded] != 1 || r.counts[countGaps] != 1 {
		t.Fatalf("%v %v\n%s", r.err, r.counts, r.logs)
	}
	if got := files(t, s.Inbound); got != before {
		t.Errorf("inbound/ changed: %q", got)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM raw"); n != 4 {
		t.Errorf("dry run loaded rows: %d", n)
	}
}

// errCrash stands for the process dying at a crash point.
var errCrash = errors.New("crash")

func TestInterruptedRunsFinish(t *testing.T) {
	for _, point := range []string{CrashBeforeCommit, CrashAfterCommit, CrashAfterDataMv} {
		t.Run(point, func(t *testing.T) {
			s := central(t)
			makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
			func() {
				defer func() {
					if p := recover(); p != errCrash {
						t.Fatalf("no crash at %s: %v", point, p)
					}
				}()
				load(t, s, Options{Crash: func(p string) {
					if p == point {
						panic(errCrash)
					}
				}})
			}()
			r := load(t, s, Options{})
			if r.err != nil {
				t.Fatalf("second run: %v\n%s", r.err, r.logs)
			}
			if n := queryInt(t, s, "SELECT count(*) FROM raw"); n != 6 {
				t.Errorf("raw has %d rows, want 6", n)
			}
			if got, want := files(t, s.Archive), b1+".manifest "+b1+".tar"; got != want {
				t.Errorf("archive/ holds %q, want %q", got, want)
			}
			if got := files(t, s.Inbound); got != "" {
				t.Errorf("inbound/ holds %q", got)
			}
		})
	}
	t.Run(CrashAfterReason, func(t *testing.T) {
		s := central(t)
		makeBatch(t, s.Inbound, "ISPB", 1, 0, 3)
		editFile(t, filepath.Join(s.Inbound, b1+".manifest"), "\nrecords 6\n", "\nrecords 7\n")
		func() {
			defer func() { recover() }()
			load(t, s, Options{Crash: func(p string) {
				if p == CrashAfterReason {
					panic(errCrash)
				}
			}})
		}()
		r := load(t, s, Options{})
		var att *stage.AttentionError
		if !errors.As(r.err, &att) || r.counts[countQuarantined] != 1 {
			t.Fatalf("%v %v", r.err, r.counts)
		}
		if got, want := files(t, s.Quarantine), b1+".manifest "+b1+".reason "+b1+".tar"; got != want {
			t.Errorf("quarantine/ holds %q, want %q", got, want)
		}
		data, _ := os.ReadFile(filepath.Join(s.Quarantine, b1+ReasonExt))
		if !strings.Contains(string(data), "records 6, manifest says 7") {
			t.Errorf("reason lost: %s", data)
		}
	})
}

// TestCounterProblemOnItsRow: the record whose counter does not fit is
// loaded with its problem on its row; the records beside it are untouched.
func TestCounterProblemOnItsRow(t *testing.T) {
	s := central(t)
	bad := sessionRecords(0, base)
	bad[1].InputOctets = math.MaxUint64 // Acct-Input-Gigawords and -Octets both 4294967295
	makeBatchOf(t, s.Inbound, t.TempDir(), "ISPB", 1, [][]spool.Record{sessionRecords(1, base), bad})
	r := load(t, s, Options{})
	if r.err != nil || r.counts[countLoaded] != 1 || r.counts[countProblems] != 1 {
		t.Fatalf("err %v, counts %v\n%s", r.err, r.counts, r.logs)
	}
	if !strings.Contains(r.logs, "BAD_COUNTER") || !strings.Contains(r.logs, "line=3") {
		t.Errorf("the log does not place the problem:\n%s", r.logs)
	}
	db := openDB(t, s)
	var in sql.NullInt64
	var problem string
	var line int64
	if err := db.SQL().QueryRow("SELECT input_octets, problem, line FROM raw WHERE problem IS NOT NULL").Scan(&in, &problem, &line); err != nil {
		t.Fatal(err)
	}
	if in.Valid || line != 3 || !strings.Contains(problem, "input_octets 18446744073709551615") {
		t.Errorf("row: input_octets %v, line %d, problem %q", in, line, problem)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM raw WHERE problem IS NULL AND input_octets IS NOT NULL"); n != 3 {
		t.Errorf("%d good rows, want 3", n)
	}
}
