package config

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"roamsettle/pkg/money"
)

// Tariff is one row of tariffs.csv.
type Tariff struct {
	Local, Home  string // partner id or "*"
	ValidFrom    time.Time
	Days         string // as written, for reports
	Hours        string
	ProviderRate money.Micro // per minute
	ConsumerRate money.Micro
	Increment    int64 // seconds
	Minimum      int64 // seconds
	Line         int
	band         *[bandWords]uint64 // nil: no days/hours band
}

const (
	minutesPerWeek = 7 * 24 * 60
	bandWords      = (minutesPerWeek + 63) / 64
)

// Specificity ranks (local,home) > (local,*) > (*,home) > (*,*).
func (t *Tariff) Specificity() int {
	s := 0
	if t.Local != "*" {
		s += 2
	}
	if t.Home != "*" {
		s++
	}
	return s
}

// Banded says whether the row has a days or hours restriction.
func (t *Tariff) Banded() bool { return t.band != nil }

// Covers says whether a session starting at startLocal (the local ISP's
// wall clock) falls in the row's days/hours band. Unbanded rows cover all.
func (t *Tariff) Covers(startLocal time.Time) bool {
	if t.band == nil {
		return true
	}
	m := minuteOfWeek(startLocal.Weekday(), startLocal.Hour()*60+startLocal.Minute())
	return t.band[m/64]&(1<<(m%64)) != 0
}

func minuteOfWeek(d time.Weekday, minute int) int { return int(d)*24*60 + minute }

// Tariffs is tariffs.csv.
type Tariffs struct {
	File string
	List []*Tariff
	// byPair holds List's rows under their exact (local, home) as written,
	// "*" included, so Select looks at four short lists, not every row.
	byPair map[[2]string][]*Tariff
}

func (ts *Tariffs) index() {
	ts.byPair = make(map[[2]string][]*Tariff)
	for _, t := range ts.List {
		k := [2]string{t.Local, t.Home}
		ts.byPair[k] = append(ts.byPair[k], t)
	}
}

// Select returns the tariff for a session between local and home that
// stopped at stopUTC and started at startLocal (local ISP's zone), by
// DESIGN.md's rule. Config loading has ruled out ties.
func (ts *Tariffs) Select(local, home string, stopUTC, startLocal time.Time) (*Tariff, bool) {
	stopDate := time.Date(stopUTC.Year(), stopUTC.Month(), stopUTC.Day(), 0, 0, 0, 0, time.UTC)
	var best *Tariff
	consider := func(rows []*Tariff) {
		for _, t := range rows {
			if t.ValidFrom.After(stopDate) ||
				(t.Local != "*" && t.Local != local) || (t.Home != "*" && t.Home != home) ||
				!t.Covers(startLocal) {
				continue
			}
			if best == nil || better(t, best) {
				best = t
			}
		}
	}
	if ts.byPair == nil { // built by hand, not by ParseTariffs
		consider(ts.List)
		return best, best != nil
	}
	for _, k := range [4][2]string{{local, home}, {local, "*"}, {"*", home}, {"*", "*"}} {
		consider(ts.byPair[k])
	}
	return best, best != nil
}

func better(a, b *Tariff) bool {
	if a.Specificity() != b.Specificity() {
		return a.Specificity() > b.Specificity()
	}
	if a.Banded() != b.Banded() {
		return a.Banded()
	}
	return a.ValidFrom.After(b.ValidFrom)
}

var tariffColumns = []string{"local", "home", "valid_from", "days", "hours", "provider_rate", "consumer_rate", "increment", "minimum"}

// LoadTariffs reads and checks tariffs.csv against the partners.
func LoadTariffs(path string, partners *Partners) (*Tariffs, error) {
	data, err := readSmallFile(path, maxTableSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return ParseTariffs(bytes.NewReader(data), path, partners)
}

// ParseTariffs reads tariffs.csv from r; name is used in messages.
func ParseTariffs(r io.Reader, name string, partners *Partners) (*Tariffs, error) {
	var errs Errors
	rows, err := readCSV(r, name, tariffColumns, nil, &errs)
	if err != nil {
		return nil, err
	}
	ts := &Tariffs{File: name}
	for _, row := range rows {
		ln := row.line
		t := &Tariff{Local: row.get("local"), Home: row.get("home"), Days: row.get("days"), Hours: row.get("hours"), Line: ln}
		for _, f := range []struct{ field, v string }{{"local", t.Local}, {"home", t.Home}} {
			if f.v == "*" {
				continue
			}
			if partners == nil {
				continue
			}
			if _, ok := partners.ByID(f.v); !ok {
				errs.add(name, ln, f.field, "%q is not a partner id or *", f.v)
			}
		}
		vf, err := time.Parse("2006-01-02", row.get("valid_from"))
		if err != nil {
			errs.add(name, ln, "valid_from", "%q is not a date YYYY-MM-DD", row.get("valid_from"))
		}
		t.ValidFrom = vf
		for _, f := range []struct {
			field string
			dst   *money.Micro
		}{{"provider_rate", &t.ProviderRate}, {"consumer_rate", &t.ConsumerRate}} {
			v, err := money.ParseMicro(row.get(f.field))
			if err != nil {
				errs.add(name, ln, f.field, "%v", err)
			}
			*f.dst = v
		}
		inc, err := strconv.ParseInt(row.get("increment"), 10, 64)
		if err != nil || inc <= 0 || inc > 86400 {
			errs.add(name, ln, "increment", "%q is not a whole number of seconds from 1 to 86400", row.get("increment"))
		}
		t.Increment = inc
		min, err := strconv.ParseInt(row.get("minimum"), 10, 64)
		if err != nil || min < 0 || min > 86400 {
			errs.add(name, ln, "minimum", "%q is not a whole number of seconds from 0 to 86400", row.get("minimum"))
		}
		t.Minimum = min
		band, field, err := parseBand(t.Days, t.Hours)
		if err != nil {
			errs.add(name, ln, field, "%v", err)
		}
		t.band = band
		ts.List = append(ts.List, t)
	}
	if len(errs) == 0 {
		checkTies(ts, &errs)
	}
	ts.index()
	return ts, errs.err()
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseBand turns days ("*" or "Mon Tue") and hours ("*" or "18:00-08:00",
// wrapping midnight) into a minute-of-week bitmap; nil when both are "*".
func parseBand(days, hours string) (*[bandWords]uint64, string, error) {
	if days == "*" && hours == "*" {
		return nil, "", nil
	}
	var dayset [7]bool
	if days == "*" {
		dayset = [7]bool{true, true, true, true, true, true, true}
	} else {
		names := strings.Fields(days)
		if len(names) == 0 {
			return nil, "days", fmt.Errorf("%q: want * or day names such as \"Sat Sun\"", days)
		}
		for _, n := range names {
			d, ok := dayNames[strings.ToLower(n)]
			if !ok || len(n) != 3 {
				return nil, "days", fmt.Errorf("%q is not a day name (Mon Tue Wed Thu Fri Sat Sun)", n)
			}
			if dayset[d] {
				return nil, "days", fmt.Errorf("day %q given twice", n)
			}
			dayset[d] = true
		}
	}
	from, to := 0, 24*60
	if hours != "*" {
		a, b, ok := strings.Cut(hours, "-")
		var err1, err2 error
		from, err1 = parseClock(a, false)
		to, err2 = parseClock(b, true)
		if !ok || err1 != nil || err2 != nil || from == to {
			return nil, "hours", fmt.Errorf("%q: want * or HH:MM-HH:MM with different ends", hours)
		}
	}
	var band [bandWords]uint64
	for d := 0; d < 7; d++ {
		if !dayset[d] {
			continue
		}
		for m := 0; m < 24*60; m++ {
			in := (from < to && m >= from && m < to) || (from > to && (m >= from || m < to))
			if in {
				i := minuteOfWeek(time.Weekday(d), m)
				band[i/64] |= 1 << (i % 64)
			}
		}
	}
	return &band, "", nil
}

func parseClock(s string, allow24 bool) (int, error) {
	t, err := time.Parse("15:04", s)
	if err == nil {
		return t.Hour()*60 + t.Minute(), nil
	}
	if allow24 && s == "24:00" {
		return 24 * 60, nil
	}
	return 0, err
}

// checkTies reports rows that DESIGN.md's selection could not tell apart:
// same local, home and valid_from, and both unbanded or with overlapping bands.
func checkTies(ts *Tariffs, errs *Errors) {
	groups := map[string][]*Tariff{}
	var keys []string
	for _, t := range ts.List {
		k := t.Local + "\x00" + t.Home + "\x00" + t.ValidFrom.Format("2006-01-02")
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], t)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		for i := 0; i < len(g); i++ {
			for j := i + 1; j < len(g); j++ {
				if g[i].Banded() != g[j].Banded() || !overlap(g[i], g[j]) {
					continue
				}
				what := "neither has a days/hours band"
				if g[i].Banded() {
					what = "their days/hours bands overlap"
				}
				errs.add(ts.File, g[j].Line, "", "tariff rows on lines %d and %d tie (same local %s, home %s and valid_from %s; %s)",
					g[i].Line, g[j].Line, g[i].Local, g[i].Home, g[i].ValidFrom.Format("2006-01-02"), what)
			}
		}
	}
}

func overlap(a, b *Tariff) bool {
	if a.band == nil || b.band == nil {
		return a.band == nil && b.band == nil
	}
	for i := range a.band {
		if a.band[i]&b.band[i] != 0 {
			return true
		}
	}
	return false
}
