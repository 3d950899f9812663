package publish

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const goodManifest = `#roamreport 1
folder ISPA
period 2026-07
revision 1
currency USD
sessions 2
file 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 10 detail.csv
file fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210 0 ISPA_2026-07_DT.txt
end
`

func TestParseManifest(t *testing.T) {
	got, err := parseManifest([]byte(goodManifest), "M")
	if err != nil || len(got) != 2 || got[0].name != "detail.csv" || got[0].size != 10 || got[1].size != 0 {
		t.Fatalf("%v %v", got, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "M:0: no \"end\""},
		{"#other 1\nend\n", "M:1: not a report MANIFEST"},
		{"#roamreport 1\nfile abc 1 x\nend\n", "M:2: want \"file SHA256 SIZE NAME\""},
		{strings.Replace(goodManifest, "detail.csv", "../etc/passwd", 1), "M:7:"},
		{strings.Replace(goodManifest, "detail.csv", ".hidden", 1), "M:7:"},
		{strings.Replace(goodManifest, "ISPA_2026-07_DT.txt", "detail.csv", 1), "M:8: detail.csv listed twice"},
		{strings.TrimSuffix(goodManifest, "end\n"), "M:8: no \"end\" line"},
		{goodManifest + "more\n", "M:10: text after \"end\""},
	} {
		if _, err := parseManifest([]byte(tc.in), "M"); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q...", tc.in, err, tc.want)
		}
	}
}

var placed = regexp.MustCompile(`^M:\d+: `)

// FuzzParseManifest: no input panics; every error names the file and a
// line; what is read is written back and read the same.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(goodManifest))
	f.Add([]byte("#roamreport 1\nend\n"))
	seeds, _ := filepath.Glob(filepath.Join("testdata", "manifests", "*"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseManifest(data, "M")
		if err != nil {
			if !placed.MatchString(err.Error()) {
				t.Fatalf("error does not name file and line: %v", err)
			}
			return
		}
		var b strings.Builder
		b.WriteString(manifestHeader + "\n")
		for _, e := range got {
			fmt.Fprintf(&b, "file %s %d %s\n", e.sha256, e.size, e.name)
		}
		b.WriteString("end\n")
		again, err := parseManifest([]byte(b.String()), "M")
		if err != nil || fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("round trip: %v %v, want %v", again, err, got)
		}
	})
}
