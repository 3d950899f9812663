// Command roamclean runs on the central host: it turns the raw records
// into sessions (the roaming history), setting aside duplicates,
// irrelevant and erroneous records, each with its reason.
package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/app"
	"roamsettle/pkg/clean"
	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"

	_ "time/tzdata" // results must not depend on the host's zoneinfo
)

func main() {
	// A run allocates fast on two goroutines while its live heap stays a
	// few tens of MB; a soft limit makes the collector keep the heap, and
	// so the peak RSS, about the same however many records a run takes.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(128 << 20)
	}
	os.Exit(app.Main(newApp(), os.Args, os.Stderr))
}

// centralLock is the lock of every central run, beside the database.
func centralLock(cfg *config.Config) (string, string) {
	return filepath.Dir(cfg.Settlement.DB), ".roam.lock"
}

func newApp() *cli.App {
	flags := append(app.Flags(), app.SettingFlags("settlement")...)
	need := config.NeedCentral | config.NeedParties
	period := &cli.StringFlag{Name: "period", Usage: "calendar month `YYYY-MM` (UTC, by stop time)"}
	return &cli.App{
		Name:  "roamclean",
		Usage: "turn raw records into sessions (the roaming history); set aside duplicates, irrelevant and erroneous records, each with its reason",
		Flags: slices.Concat(flags, []cli.Flag{
			&cli.BoolFlag{Name: "rebuild", Usage: "judge every raw record again (with --period: the groups around that month) instead of only the new ones"},
			period,
		}),
		Action: app.Action(app.Spec{Need: need, Sections: []string{"settlement"}, Lock: centralLock},
			func(c *cli.Context, r *stage.Run, cfg *config.Config) error {
				if c.IsSet("period") && !c.Bool("rebuild") {
					return stage.Usagef("--period goes with --rebuild (an incremental run takes every new record)")
				}
				return clean.Clean(c.Context, r, &cfg.Settlement, clean.Options{Rebuild: c.Bool("rebuild"), Period: c.String("period")})
			}),
		Commands: []*cli.Command{
			{
				Name:  "status",
				Usage: "records cleaned, sessions, estimated sessions, counts per outcome and reason",
				Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON object"}, period}),
				Action: app.ReadOnly(need, func(c *cli.Context, cfg *config.Config) error {
					return clean.Status(c.Context, &cfg.Settlement, c.App.Writer, c.String("period"), c.Bool("json"))
				}),
			},
			{
				Name:  "rejects",
				Usage: "write a sender's rejected records as CSV on stdout, with reason, message and lineage, for it to fix and resend",
				Flags: slices.Concat(flags, []cli.Flag{&cli.StringFlag{Name: "sender", Required: true, Usage: "the sender (partner `ID`)"}, period}),
				Action: app.ReadOnly(need, func(c *cli.Context, cfg *config.Config) error {
					return clean.Rejects(c.Context, &cfg.Settlement, c.App.Writer, c.String("sender"), c.String("period"))
				}),
			},
		},
	}
}
