package e2e

// What every ISP should receive, computed from the generated traffic with
// the test's own reading of DESIGN.md ("Money and rounding (exact)" and
// the tariff selection) in math/big: nothing of pkg/rate or pkg/money.

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// charge is one rated session with its amounts in cents.
type charge struct {
	s                       session
	row                     int // index in tariffs
	ties                    int // amounts exactly half a cent before rounding
	billed                  int64
	provider, consumer, fee int64
}

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("not a decimal: " + s)
	}
	return r
}

// tie says whether a non-negative amount is exactly half a cent past a
// whole cent, where half up and other roundings part.
func tie(r *big.Rat) bool {
	x := new(big.Rat).Mul(r, big.NewRat(200, 1))
	return x.IsInt() && x.Num().Bit(0) == 1
}

// cents rounds a non-negative amount half up to whole cents.
func cents(r *big.Rat) int64 {
	x := new(big.Rat).Mul(r, big.NewRat(100, 1))
	x.Add(x, big.NewRat(1, 2))
	return new(big.Int).Quo(x.Num(), x.Denom()).Int64() // floor, x >= 0
}

// covers reads a days/hours band in the local ISP's zone at session start.
func (t tariff) covers(startLocal time.Time) bool {
	if t.days != "*" && !slices.Contains(strings.Fields(t.days), startLocal.Weekday().String()[:3]) {
		return false
	}
	if t.hours == "*" {
		return true
	}
	var h1, m1, h2, m2 int
	if _, err := fmt.Sscanf(t.hours, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil {
		panic(err)
	}
	from, to, m := h1*60+m1, h2*60+m2, startLocal.Hour()*60+startLocal.Minute()
	if from < to {
		return m >= from && m < to
	}
	return m >= from || m < to // wraps midnight
}

func (t tariff) banded() bool { return t.days != "*" || t.hours != "*" }

func (t tariff) specificity() int {
	n := 0
	if t.local != "*" {
		n += 2
	}
	if t.home != "*" {
		n++
	}
	return n
}

// pick selects the tariff row: valid on the stop date (UTC), then the most
// specific, then a matching band over none, then the latest valid_from.
func pick(s session) (int, bool) {
	zone := mustZone(partnerByID(s.edge).zone)
	stopDate := s.stop().UTC().Format("2006-01-02")
	best := -1
	for i := range tariffs {
		t := &tariffs[i]
		if t.validFrom > stopDate || (t.local != "*" && t.local != s.edge) || (t.home != "*" && t.home != s.home) ||
			!t.covers(s.start.In(zone)) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &tariffs[best]
		if t.specificity() > b.specificity() ||
			(t.specificity() == b.specificity() && (t.banded() && !b.banded() ||
				t.banded() == b.banded() && t.validFrom > b.validFrom)) {
			best = i
		}
	}
	return best, best >= 0
}

func mustZone(name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return z
}

func rateSession(s session) charge {
	row, ok := pick(s)
	if !ok {
		panic("no tariff for " + s.id) // the tariffs have a (*,*) row
	}
	t := tariffs[row]
	var billed int64
	if s.dur > 0 {
		billed = max(t.minimum, (s.dur+t.increment-1)/t.increment*t.increment)
	}
	perMinute := func(rate string) *big.Rat {
		r := new(big.Rat).Mul(big.NewRat(billed, 60), rat(rate))
		return r
	}
	p, c := perMinute(t.provider), perMinute(t.consumer)
	fee := new(big.Rat).Add(rat(feePerSession), perMinute(feePerMinute))
	ties := 0
	for _, r := range []*big.Rat{p, c, fee} {
		if tie(r) {
			ties++
		}
	}
	return charge{s: s, row: row, ties: ties, billed: billed, provider: cents(p), consumer: cents(c), fee: cents(fee)}
}

// money writes cents with two decimals and a minus sign when negative.
func money(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// minutes is billed seconds / 60 with two decimals, half up.
func minutes(billed int64) string { return money(cents(big.NewRat(billed, 60))) }

type sums struct {
	sessions, seconds, billed, provider, consumer, fee int64
}

func (a *sums) add(c charge) {
	a.sessions++
	a.seconds += c.s.dur
	a.billed += c.billed
	a.provider += c.provider
	a.consumer += c.consumer
	a.fee += c.fee
}

// expected is the set of files (only the amounts-bearing ones) an ISP
// should receive, as text, and its MANIFEST control totals.
type expected struct {
	files  map[string]string
	totals []string // MANIFEST lines sessions ... fees
}

func expect(charges []charge, isp string) expected {
	var mine []charge
	for _, c := range charges {
		if c.s.edge == isp || c.s.home == isp {
			mine = append(mine, c)
		}
	}
	e := expected{files: map[string]string{}}

	// creditdebit.csv: per counterpart, in partner-id order.
	var b strings.Builder
	b.WriteString("isp,counterpart,credit,debit,net\n")
	var credit, debit int64
	for _, p := range partners {
		var cr, db int64
		seen := false
		for _, c := range mine {
			switch {
			case c.s.edge == isp && c.s.home == p.id:
				cr += c.provider
			case c.s.home == isp && c.s.edge == p.id:
				db += c.provider + c.fee
			default:
				continue
			}
			seen = true
		}
		if seen {
			fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", isp, p.id, money(cr), money(db), money(cr-db))
			credit, debit = credit+cr, debit+db
		}
	}
	fmt.Fprintf(&b, "%s,TOTAL,%s,%s,%s\n", isp, money(credit), money(debit), money(credit-debit))
	e.files["creditdebit.csv"] = b.String()

	// summary.csv and invoice.csv: per (local, home) pair.
	var sum, inv strings.Builder
	sum.WriteString("local_isp,home_isp,sessions,seconds,billed_seconds,billed_minutes\n")
	inv.WriteString("local_isp,home_isp,sessions,billed_minutes,provider,consumer,fees\n")
	var total sums
	for _, l := range partners {
		for _, h := range partners {
			var a sums
			for _, c := range mine {
				if c.s.edge == l.id && c.s.home == h.id {
					a.add(c)
					total.add(c)
				}
			}
			if a.sessions == 0 {
				continue
			}
			fmt.Fprintf(&sum, "%s,%s,%d,%d,%d,%s\n", l.id, h.id, a.sessions, a.seconds, a.billed, minutes(a.billed))
			fmt.Fprintf(&inv, "%s,%s,%d,%s,%s,%s,%s\n", l.id, h.id, a.sessions, minutes(a.billed), money(a.provider), money(a.consumer), money(a.fee))
		}
	}
	fmt.Fprintf(&inv, "TOTAL,,%d,%s,%s,%s,%s\n", total.sessions, minutes(total.billed), money(total.provider), money(total.consumer), money(total.fee))
	e.files["summary.csv"] = sum.String()
	e.files["invoice.csv"] = inv.String()
	e.totals = []string{
		fmt.Sprintf("sessions %d", total.sessions), fmt.Sprintf("seconds %d", total.seconds),
		fmt.Sprintf("billed_seconds %d", total.billed), "provider " + money(total.provider),
		"consumer " + money(total.consumer), "fees " + money(total.fee),
	}

	// detail.csv: per user, home and local, by user then home then local.
	type key struct{ user, home, local string }
	det := map[key]*sums{}
	for _, c := range mine {
		k := key{c.s.user, c.s.home, c.s.edge}
		if det[k] == nil {
			det[k] = &sums{}
		}
		det[k].add(c)
	}
	keys := make([]key, 0, len(det))
	for k := range det {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.user+"\x00"+a.home+"\x00"+a.local, b.user+"\x00"+b.home+"\x00"+b.local)
	})
	b.Reset()
	b.WriteString("user,home_isp,local_isp,local_country,sessions,seconds,billed_seconds,billed_minutes,provider,consumer\n")
	for _, k := range keys {
		a := det[k]
		fmt.Fprintf(&b, "%s,%s,%s,%s,%d,%d,%d,%s,%s,%s\n", k.user, k.home, k.local, partnerByID(k.local).country,
			a.sessions, a.seconds, a.billed, minutes(a.billed), money(a.provider), money(a.consumer))
	}
	e.files["detail.csv"] = b.String()

	// The DT file: by GMT stop, then user, then session id.
	slices.SortFunc(mine, func(a, b charge) int {
		if c := a.s.stop().Compare(b.s.stop()); c != 0 {
			return c
		}
		if c := strings.Compare(a.s.user, b.s.user); c != 0 {
			return c
		}
		return strings.Compare(a.s.id, b.s.id)
	})
	b.Reset()
	for _, c := range mine {
		stop := c.s.stop().UTC()
		local := stop.In(mustZone(partnerByID(c.s.edge).zone))
		h, l := partnerByID(c.s.home), partnerByID(c.s.edge)
		fmt.Fprintf(&b, `"DT","RM","%s","%s","%s","%s","%s","%s;%s","%s;%s","S","%d"`+"\n",
			stop.Format("01/02/06"), stop.Format("15:04:05"), local.Format("01/02/06"), local.Format("15:04:05"),
			c.s.user, h.name, h.country, l.name, l.country, c.s.dur)
	}
	e.files[isp+"_"+period+"_DT.txt"] = b.String()
	return e
}
