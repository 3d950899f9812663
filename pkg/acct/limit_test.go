package acct

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	l := newLimiter(time.Minute, 3)
	steps := []struct {
		key  string
		at   time.Duration
		want verdict
	}{
		{"a", 0, verdict{ok: true}},
		{"a", time.Second, verdict{}},                         // a's interval
		{"b", time.Second, verdict{ok: true}},                 // another key
		{"c", 2 * time.Second, verdict{ok: true, last: true}}, // spends the budget
		{"d", 3 * time.Second, verdict{}},                     // budget spent
		{"e", 4 * time.Second, verdict{}},
		{"a", 61 * time.Second, verdict{ok: true, held: 1, others: 2}}, // a new interval
		{"a", 62 * time.Second, verdict{}},
		{"d", 63 * time.Second, verdict{ok: true}},
	}
	for i, s := range steps {
		if got := l.allow(s.key, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%s at %v): %+v, want %+v", i, s.key, s.at, got, s.want)
		}
	}
}
