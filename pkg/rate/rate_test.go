package rate

import (
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/config"
	"roamsettle/pkg/money"
)

func TestBilled(t *testing.T) {
	for _, tc := range []struct{ d, inc, min, want int64 }{
		{0, 60, 60, 0},      // no usage, no charge, whatever the minimum
		{1, 60, 0, 60},      // one second under a 60 s increment
		{1, 1, 60, 60},      // one second under a minimum
		{60, 60, 0, 60},     // exact
		{61, 60, 0, 120},    // one over
		{61, 30, 0, 90},     // 30 s increments
		{299, 60, 600, 600}, // the minimum wins
		{601, 60, 600, 660}, // the increments win
	} {
		if got := Billed(tc.d, tc.inc, tc.min); got != tc.want {
			t.Errorf("Billed(%d, %d, %d) = %d, want %d", tc.d, tc.inc, tc.min, got, tc.want)
		}
	}
}

func TestRateArithmetic(t *testing.T) {
	p, err := config.ParsePartners(strings.NewReader("id,name,country,realms,timezone\n"+
		"ISPA,Aimnet,USA,aimnet.com,America/Los_Angeles\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n"), "partners.csv")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := config.ParseTariffs(strings.NewReader("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n"+
		"*,*,2026-01-01,*,*,0.0300,0.0500,60,60\n"+
		"ISPB,ISPA,2026-06-01,*,*,0.000150,0.0450,1,0\n"), "tariffs.csv", p)
	if err != nil {
		t.Fatal(err)
	}
	stop := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	fees := Fees{PerSession: 10_000, PerMinute: 2_000} // 0.0100 and 0.0020
	for _, tc := range []struct {
		name                    string
		local, home             string
		dur                     int64
		billed                  int64
		provider, consumer, fee money.Cents
	}{
		// 300 s at 0.03/min: 0.15; at 0.05: 0.25; fee 0.01 + 5 * 0.002 = 0.02.
		{"default row", "ISPA", "ISPB", 300, 300, 15, 25, 2},
		// 61 s billed as 120 s: 0.06, 0.10, fee 0.01 + 0.004 = 0.014 -> 0.01.
		{"increment", "ISPA", "ISPB", 61, 120, 6, 10, 1},
		// Half up at exactly .005: 2000 s at 0.000150/min = 0.005 -> 0.01;
		// consumer 2000 * 0.045 / 60 = 1.50; fee 0.01 + 2000*0.002/60 = 0.07666 -> 0.08.
		{"half up at .005", "ISPB", "ISPA", 2000, 2000, 1, 150, 8},
		// 1999 s: 0.0049975 -> 0.00.
		{"just below .005", "ISPB", "ISPA", 1999, 1999, 0, 150, 8},
		{"zero seconds", "ISPA", "ISPB", 0, 0, 0, 0, 1},
	} {
		c, ok := Rate(Session{Local: tc.local, Home: tc.home, Stop: stop, StartLocal: stop, Duration: tc.dur}, ts, fees)
		if !ok {
			t.Fatalf("%s: no tariff", tc.name)
		}
		if c.BilledSeconds != tc.billed || c.Provider != tc.provider || c.Consumer != tc.consumer || c.Fee != tc.fee {
			t.Errorf("%s: billed %d provider %v consumer %v fee %v; want %d %v %v %v (tariff line %d)", tc.name,
				c.BilledSeconds, c.Provider, c.Consumer, c.Fee, tc.billed, tc.provider, tc.consumer, tc.fee, c.Tariff.Line)
		}
	}
	// Before any row is valid: no tariff, never zero.
	if _, ok := Rate(Session{Local: "ISPA", Home: "ISPB", Stop: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC), Duration: 60}, ts, fees); ok {
		t.Error("a session before every valid_from was rated")
	}
}
