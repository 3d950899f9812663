package main

import (
	"bytes"
	"strings"
	"testing"

	"roamsettle/pkg/app"
)

func run(args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	a := newApp()
	a.Writer = &out
	code := app.Main(a, append([]string{"roamsim"}, args...), &errs)
	return code, out.String(), errs.String()
}

func TestRoamsim(t *testing.T) {
	common := []string{"--partners", "../../example/partners.csv", "--isp", "ISPB", "--sessions", "50", "--seed", "9", "--start", "2026-06-01", "--days", "30", "--nas-ip", "127.0.0.1"}
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout
		err  string // substring of stderr
	}{
		{"detail", append([]string{"detail"}, common...), 0, "\tAcct-Status-Type = Start\n", ""},
		{"radclient", append([]string{"radclient"}, common...), 0, "\nAcct-Status-Type = Start\n", ""},
		{"no subcommand", nil, 2, "", "a command is needed"},
		{"no isp, no config", []string{"detail", "--partners", "../../example/partners.csv", "--config", "nope.toml"}, 2, "", "give --partners and --isp"},
		{"from the configuration", []string{"detail", "--config", "../../example/roam.toml", "--sessions", "3"}, 0, "\tAcct-Status-Type = Start\n", ""},
		{"unknown isp", []string{"detail", "--partners", "../../example/partners.csv", "--isp", "NOPE"}, 2, "", `--isp "NOPE" is not a partner id`},
		{"bad start", append(append([]string{"detail"}, common...), "--start", "June"), 2, "", "--start"},
		{"bad nas ip", append(append([]string{"detail"}, common...), "--nas-ip", "nas1"), 2, "", "--nas-ip"},
		{"missing partners", []string{"detail", "--partners", "nope.csv", "--isp", "ISPB"}, 2, "", "nope.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
				t.Errorf("exit %d (want %d)\nstdout %.200q (want %q)\nstderr %q (want %q)", code, tc.code, out, tc.out, errs, tc.err)
			}
		})
	}
	_, a, _ := run(append([]string{"detail"}, common...)...)
	_, b, _ := run(append([]string{"detail"}, common...)...)
	if a != b || a == "" {
		t.Error("same seed must give the same bytes")
	}
}
