package acct

import (
	"sync"
	"time"
)

// limiter lets one log line per key through per interval, and at most
// budget lines of all keys together per interval, and counts the ones it
// held back: neither a flood from one source nor a scan from thousands
// can flood the log. The reader, the writer and the sender share them
// (only on unhappy paths).
type limiter struct {
	mu     sync.Mutex
	every  time.Duration
	budget int // lines per interval, all keys together
	m      map[string]*limitState
	// The budget's current interval: when it began and the lines let
	// through in it; and the lines it held back, of keys without an
	// entry, since a line was last let through.
	since time.Time
	used  int
	held  int
}

type limitState struct {
	last       time.Time
	suppressed int
}

// verdict is what the limiter says about one line.
type verdict struct {
	ok bool
	// held is how many lines of this key were held back since its last
	// one; others how many lines of keys that had not logged lately the
	// budget held back since the last line let through. The two add up
	// to every line left out.
	held, others int
	// last is true for the line that spends the interval's budget: the
	// caller says that what follows is only counted.
	last bool
}

// limiterKeys bounds the map; beyond it, keys quiet for an interval go.
// Only keys that logged have an entry, so the budget bounds it as well.
const limiterKeys = 4096

func newLimiter(every time.Duration, budget int) *limiter {
	return &limiter{every: every, budget: budget, m: map[string]*limitState{}}
}

// allow says whether to log for key now.
func (l *limiter) allow(key string, now time.Time) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[key]
	if st != nil && now.Sub(st.last) < l.every {
		st.suppressed++
		return verdict{}
	}
	if now.Sub(l.since) >= l.every {
		l.since, l.used = now, 0
	}
	if l.used >= l.budget {
		if st != nil {
			st.suppressed++
		} else {
			l.held++ // no entry: the map grows only with lines let through
		}
		return verdict{}
	}
	l.used++
	if st == nil {
		if len(l.m) >= limiterKeys {
			for k, v := range l.m {
				if now.Sub(v.last) >= l.every {
					delete(l.m, k)
				}
			}
		}
		st = &limitState{}
		l.m[key] = st
	}
	v := verdict{ok: true, held: st.suppressed, others: l.held, last: l.used == l.budget}
	st.last, st.suppressed = now, 0
	l.held = 0
	return v
}
