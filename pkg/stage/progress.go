package stage

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress is a one-line progress bar on a terminal. Run.Progress returns
// nil when stderr is not a terminal, and every method of a nil *Progress
// does nothing, so callers need not check (logs and pipes stay clean).
type Progress struct {
	mu          sync.Mutex
	w           io.Writer
	label, unit string
	total, done int64
	start, last time.Time
}

// Add counts n more; the bar is redrawn at most ten times a second.
func (p *Progress) Add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || p.done >= p.total {
		p.last = now
		p.draw(now)
	}
}

// Done draws the final state and ends the line.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}

func (p *Progress) draw(now time.Time) {
	const width = 30
	frac := float64(p.done) / float64(p.total)
	if frac > 1 {
		frac = 1
	}
	fill := int(frac * width)
	rate := ""
	if secs := now.Sub(p.start).Seconds(); secs > 0.2 {
		rate = " " + p.amount(int64(float64(p.done)/secs)) + "/s"
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s/%s%s\x1b[K", p.label, strings.Repeat("#", fill), strings.Repeat("-", width-fill),
		frac*100, p.amount(p.done), p.amount(p.total), rate)
}

func (p *Progress) amount(n int64) string {
	if p.unit != "B" {
		return fmt.Sprintf("%d %s", n, p.unit)
	}
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
