package stage

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressOnlyOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := NewText("t", &buf).Progress("upload", "B", 100)
	if p != nil {
		t.Fatal("a progress bar on a non-terminal")
	}
	p.Add(10) // nil bar: no-ops
	p.Done()
	if buf.Len() != 0 {
		t.Fatalf("wrote %q", buf.String())
	}
}

func TestProgressDraw(t *testing.T) {
	for _, tc := range []struct {
		unit        string
		done, total int64
		want        string
	}{
		{"B", 3 << 20, 6 << 20, "upload [###############---------------]  50% 3.0 MiB/6.0 MiB"},
		{"files", 100, 100, "upload [##############################] 100% 100 files/100 files"},
	} {
		var buf bytes.Buffer
		p := &Progress{w: &buf, label: "upload", unit: tc.unit, total: tc.total, done: tc.done, start: time.Now()}
		p.draw(time.Now())
		if got := strings.TrimPrefix(buf.String(), "\r"); !strings.HasPrefix(got, tc.want) {
			t.Errorf("drew %q, want prefix %q", got, tc.want)
		}
	}
}
