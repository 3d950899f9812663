// Package rate prices sessions: tariff selection and DESIGN.md's exact
// arithmetic ("Money and rounding"), as pure functions. Nothing here uses
// floating point.
package rate

import (
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/money"
)

// Session is what rating needs of a session.
type Session struct {
	Local, Home string
	Stop        time.Time // UTC: the tariff row must be valid on its date
	StartLocal  time.Time // in the local ISP's zone: days and hours bands read it
	Duration    int64     // seconds
}

// Charge is a session's rated amounts.
type Charge struct {
	Tariff        *config.Tariff
	BilledSeconds int64
	Provider      money.Cents // the home ISP pays the local ISP
	Consumer      money.Cents // informative, for the home ISP's own billing
	Fee           money.Cents // the home ISP pays the settlement operator
}

// Fees are the settlement operator's handling fees ([settlement]).
type Fees struct {
	PerSession, PerMinute money.Micro
}

// Billed is billed_s: 0 for a session of 0 seconds, else the duration
// rounded up to whole increments, and at least the minimum.
func Billed(duration, increment, minimum int64) int64 {
	if duration <= 0 {
		return 0
	}
	if increment < 1 {
		increment = 1
	}
	return max(minimum, (duration+increment-1)/increment*increment)
}

// Rate prices a session; false when no tariff row applies (NO_TARIFF: the
// session is an exception, never priced at zero).
func Rate(s Session, tariffs *config.Tariffs, fees Fees) (Charge, bool) {
	t, ok := tariffs.Select(s.Local, s.Home, s.Stop, s.StartLocal)
	if !ok {
		return Charge{}, false
	}
	billed := Billed(s.Duration, t.Increment, t.Minimum)
	return Charge{
		Tariff:        t,
		BilledSeconds: billed,
		Provider:      money.PerMinute(billed, t.ProviderRate),
		Consumer:      money.PerMinute(billed, t.ConsumerRate),
		Fee:           money.Fee(billed, fees.PerSession, fees.PerMinute),
	}, true
}
