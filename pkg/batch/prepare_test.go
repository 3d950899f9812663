package batch

import (
	"os"
	"reflect"
	"testing"
)

// TestPreparerMatchesPrepare: a Preparer reused across files (good, bad,
// then good again) gives what Prepare gives.
func TestPreparerMatchesPrepare(t *testing.T) {
	paths := makeSpool(t, t.TempDir(), 3)
	contents := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		contents[p] = b
	}
	bad := paths[0] + ".bad"
	contents[bad] = append(append([]byte{}, contents[paths[0]]...), "status_type=Stop\tcrc=00000000\n"...)
	var pp Preparer
	for _, p := range []string{paths[0], bad, paths[1], paths[2]} {
		want, werr := Prepare(p, contents[p])
		got, gerr := pp.Prepare(p, contents[p])
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%s: errors %v and %v", p, werr, gerr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %+v, want %+v", p, got.member, want.member)
		}
		if p == bad && gerr == nil {
			t.Fatal("bad CRC accepted")
		}
	}
}
