package acct

import (
	"sync"
	"time"
)

// limiter lets one log line per key through per interval and counts the
// ones it held back, so a flood of bad packets cannot flood the log. The
// reader, the writer and the sender share them (only on unhappy paths).
type limiter struct {
	mu    sync.Mutex
	every time.Duration
	m     map[string]*limitState
}

type limitState struct {
	last       time.Time
	suppressed int
}

// limiterKeys bounds the map; beyond it, keys quiet for an interval go.
const limiterKeys = 4096

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, m: map[string]*limitState{}}
}

// allow says whether to log for key now, and how many lines were held
// back since the last one.
func (l *limiter) allow(key string, now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.m[key]
	if st != nil && now.Sub(st.last) < l.every {
		st.suppressed++
		return 0, false
	}
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
	n := st.suppressed
	st.last, st.suppressed = now, 0
	return n, true
}
