// Package money holds the exact decimal arithmetic of settlement: rates in
// millionths (micro-units) of the settlement currency and amounts in cents.
// Nothing here uses floating point.
package money

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Micro is an amount or rate in millionths of the currency unit
// (rates carry up to 6 decimal places).
type Micro int64

// Cents is an amount in hundredths of the currency unit.
type Cents int64

// MicroPerUnit is how many Micro make one currency unit.
const MicroPerUnit = 1_000_000

// maxUnits bounds parsed values so that later products cannot overflow int64.
const maxUnits = 1_000_000

// ParseMicro parses a non-negative decimal string with at most 6 decimal
// places ("0.0250", "1", "12.5") into micro-units.
func ParseMicro(s string) (Micro, error) {
	if s == "" {
		return 0, errors.New("empty decimal")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than 6 decimal places", s)
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a non-negative decimal number", s)
		}
	}
	if len(intPart) > 7 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	u, _ := strconv.ParseInt(intPart, 10, 64)
	if u > maxUnits {
		return 0, fmt.Errorf("%q is too large (at most %d)", s, maxUnits)
	}
	frac += strings.Repeat("0", 6-len(frac))
	f, _ := strconv.ParseInt(frac, 10, 64)
	return Micro(u*MicroPerUnit + f), nil
}

// String formats micro-units with 6 decimal places.
func (m Micro) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%06d", sign, v/MicroPerUnit, v%MicroPerUnit)
}

// PerMinute returns round_half_up(seconds * rate / 60) in cents, the
// DESIGN.md rating formula, computed exactly in integers.
func PerMinute(seconds int64, rate Micro) Cents {
	// seconds*rate is in micro-unit-seconds; one cent-minute is 60*10_000 of them.
	return roundHalfUp(seconds*int64(rate), 60*10_000)
}

// Fee returns round_half_up(perSession + seconds*perMinute/60) in cents.
func Fee(seconds int64, perSession, perMinute Micro) Cents {
	// Bring both terms to micro-unit-seconds/60 so one rounding covers the sum.
	return roundHalfUp(int64(perSession)*60+seconds*int64(perMinute), 60*10_000)
}

func roundHalfUp(n, d int64) Cents {
	if n >= 0 {
		return Cents((n + d/2) / d)
	}
	return -Cents((-n + d/2) / d)
}

// String formats cents with exactly 2 decimals and a minus sign for negatives.
func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}
