package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roamsettle/pkg/stage"
)

// goldenSessions is the small fixed history of the golden files: three
// ISPs in three time zones, October 2026 (Sydney starts summer time on
// the 4th, Berlin ends it on the 25th).
var goldenSessions = []sess{
	{"ISPB", "alice@aimnet.com", utc("2026-10-06T00:00:00Z"), 300},     // (local,home) row; Tue 11:00 Sydney
	{"ISPB", "carl@eunet.de", utc("2026-10-10T01:00:00Z"), 600},        // Sat 12:00 Sydney: the weekend band beats (local,*) and (*,home)
	{"ISPB", "carl@eunet.de", utc("2026-10-06T03:00:00Z"), 1},          // Tue 14:00: (local,*) unbanded, 1 s under a 60 s minimum
	{"ISPB", "dora@eunet.de", utc("2026-10-07T12:30:00Z"), 61},         // Wed 23:30: the night band across midnight, 30 s increments
	{"ISPB", "dora@eunet.de", utc("2026-10-07T18:00:00Z"), 3599},       // Thu 05:00: still the night band
	{"ISPB", "erik@eunet.de", utc("2026-10-03T15:59:00Z"), 120},        // Sun 01:59 AEST, the last minute before summer time
	{"ISPB", "erik@eunet.de", utc("2026-10-03T16:01:00Z"), 120},        // Sun 03:01 AEDT, just after
	{"ISPC", "alice@aimnet.com", utc("2026-10-12T08:00:00Z"), 2000},    // (ISPC,ISPA) at 0.000150/min: 0.005 rounds half up to 0.01
	{"ISPC", "bob@aimnet.com", utc("2026-10-12T09:00:00Z"), 1999},      // 0.0049975: 0.00
	{"ISPC", "alice@aimnet.com", utc("2026-10-25T00:59:00Z"), 60},      // 02:59 CEST, before Berlin's clocks go back
	{"ISPC", "alice@aimnet.com", utc("2026-10-25T01:01:00Z"), 60},      // 02:01 CET, after
	{"ISPC", "fred@connect.com.au", utc("2026-10-13T10:00:00Z"), 500},  // no row for (ISPC,ISPB): NO_TARIFF
	{"ISPA", "gina@eunet.de", utc("2026-10-14T16:00:00Z"), 1},          // (*,home) row: 1 s under a 60 s increment and a 120 s minimum
	{"ISPA", "hans@eunet.de", utc("2026-10-31T23:59:58Z"), 1},          // stops 23:59:59 UTC: October
	{"ISPA", "hans@eunet.de", utc("2026-10-31T23:59:59Z"), 1},          // stops 00:00:00 UTC: November, not in this report
	{"ISPB", "Alice.Two@connect.com", utc("2026-10-06T00:00:00Z"), 50}, // home = local would not reach the history; a user of ISPB roaming at ISPB is not here
}

func TestGolden(t *testing.T) {
	w := newWorld(t, testTariffsCSV)
	w.put(goldenSessions[:len(goldenSessions)-1]...)
	run, logs, err := w.report("2026-10", false)
	if stage.ExitCode(err) != stage.ExitAttention || !strings.Contains(err.Error(), "1 session(s) of 2026-10 have no tariff") {
		t.Fatalf("want exit 3 for the NO_TARIFF session, got %v\n%s", err, logs)
	}
	if run.Count(countSessions) != 14 || run.Count(countExceptions) != 1 {
		t.Errorf("sessions %d, no tariff %d\n%s", run.Count(countSessions), run.Count(countExceptions), logs)
	}
	for _, dir := range []string{"ISPA", "ISPB", "ISPC", OperatorDir} {
		ents, err := os.ReadDir(w.path("2026-10", dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			got, _ := os.ReadFile(w.path("2026-10", dir, e.Name()))
			golden(t, filepath.Join("golden", dir, e.Name()), got)
		}
	}
	// A second run on the same history writes nothing and changes nothing.
	before := snapshot(t, w.path())
	if _, logs, err := w.report("2026-10", false); err != nil || !strings.Contains(logs, "nothing to do") {
		t.Fatalf("second run: %v\n%s", err, logs)
	}
	if after := snapshot(t, w.path()); after != before {
		t.Error("a second run changed the reports")
	}
}

// snapshot lists every file under dir with its content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		b.WriteString(p + "\n" + string(data) + "\n")
		return nil
	})
	return b.String()
}
