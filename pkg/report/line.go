// Package report is the roamreport stage: it rates the sessions of a
// period (pkg/rate), stores the rated sessions (charges), and writes each
// ISP's settlement reports, detail-transaction file and MANIFEST, and the
// operator's credit/debit table, deterministically. docs/report.md
// describes the files.
package report

import (
	"fmt"

	"roamsettle/pkg/config"
	"roamsettle/pkg/money"
	"roamsettle/pkg/store"
)

// Line is one session of a period as the reports see it: a charge.
type Line = store.Charge

// rated says whether a tariff row priced the line (else: NO_TARIFF).
func rated(l *Line) bool { return l.TariffLine != 0 }

// party names a partner as the DT file does: "name;country".
func party(p *config.Partners, id string) string {
	if x, ok := p.ByID(id); ok {
		return x.Name + ";" + x.Country
	}
	return id + ";"
}

func country(p *config.Partners, id string) string {
	if x, ok := p.ByID(id); ok {
		return x.Country
	}
	return ""
}

// printable is s with each control byte written as '?', as the DT file
// writes it: a report row stays one line. The stored charge keeps the
// bytes.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = '?'
				}
			}
			return string(b)
		}
	}
	return s
}

// cents formats an amount with exactly two decimals.
func cents(n int64) string { return money.Cents(n).String() }

// minutes formats billed seconds as minutes with two decimals, rounded
// half up: an informative figure; every amount comes from the seconds.
func minutes(seconds int64) string {
	hundredths := (seconds*100 + 30) / 60
	return fmt.Sprintf("%d.%02d", hundredths/100, hundredths%100)
}

// dtTime is a stored time as the DT file writes it: MM/DD/YY and
// HH:MM:SS. Stored times are fixed width (store.TimeLayout,
// LocalLayout), their wall clock already in their zone: the text is cut,
// not parsed.
func dtTime(stored string, layout string) (string, string, error) {
	if len(stored) != len(layout) || stored[4] != '-' || stored[7] != '-' || stored[10] != 'T' || stored[13] != ':' || stored[16] != ':' {
		return "", "", fmt.Errorf("time %q is not stored as %s", stored, layout)
	}
	return stored[5:7] + "/" + stored[8:10] + "/" + stored[2:4], stored[11:19], nil
}
