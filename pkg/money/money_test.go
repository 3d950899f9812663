package money

import "testing"

func TestParseMicro(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Micro
		bad  bool
	}{
		{"0.0300", 30_000, false},
		{"1", 1_000_000, false},
		{"12.5", 12_500_000, false},
		{"0.000001", 1, false},
		{"0.0000001", 0, true},
		{"-1", 0, true},
		{"", 0, true},
		{".5", 0, true},
		{"5.", 0, true},
		{"1e3", 0, true},
		{"99999999", 0, true},
	} {
		got, err := ParseMicro(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseMicro(%q) = %v, %v; want %v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestPerMinuteAndFee(t *testing.T) {
	for _, tc := range []struct {
		secs int64
		rate string
		want string
	}{
		{300, "0.0300", "0.15"},
		{60, "0.0250", "0.03"}, // 0.025 rounds half up
		{90, "0.0450", "0.07"}, // 0.0675
		{0, "0.0500", "0.00"},
		{604800, "1000", "10080000.00"},
	} {
		r, _ := ParseMicro(tc.rate)
		if got := PerMinute(tc.secs, r).String(); got != tc.want {
			t.Errorf("PerMinute(%d, %s) = %s, want %s", tc.secs, tc.rate, got, tc.want)
		}
	}
	ps, _ := ParseMicro("0.0100")
	pm, _ := ParseMicro("0.0020")
	if got := Fee(300, ps, pm).String(); got != "0.02" { // 0.01 + 0.01
		t.Errorf("Fee = %s", got)
	}
	if got := Fee(150, ps, pm).String(); got != "0.02" { // 0.01 + 0.005 -> 0.015 -> 0.02
		t.Errorf("Fee half-up = %s", got)
	}
	if got := Cents(-1234).String(); got != "-12.34" {
		t.Errorf("neg = %s", got)
	}
}
