// Command roamload runs on the central host: it verifies the batches in
// the inbound folder and loads them into the SQLite raw store.
package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
	"roamsettle/pkg/load"
	"roamsettle/pkg/stage"

	_ "time/tzdata" // results must not depend on the host's zoneinfo
)

func main() {
	// The load allocates many short-lived strings while its live heap stays
	// a few MB; the default GOGC would collect every few MB. A higher
	// target keeps memory flat (bounded) and spends less time in GC.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(app.Main(newApp(load.Options{}), os.Args, os.Stderr))
}

// centralLock is the lock of every central run, beside the database.
func centralLock(cfg *config.Config) (string, string) {
	return filepath.Dir(cfg.Settlement.DB), ".roam.lock"
}

// newApp builds the command; opts are the load's options (tests inject
// their crash points here).
func newApp(opts load.Options) *cli.App {
	flags := append(app.Flags(), app.SettingFlags("settlement")...)
	spec := app.Spec{Need: config.NeedCentral | config.NeedParties, Sections: []string{"settlement"}, Lock: centralLock}
	return &cli.App{
		Name:  "roamload",
		Usage: "load verified batches from the inbound folder into the raw store",
		Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "check every batch, load nothing, move nothing"}}),
		Action: app.Action(spec, func(c *cli.Context, r *stage.Run, cfg *config.Config) error {
			o := opts
			o.DryRun = c.Bool("dry-run")
			return load.Load(c.Context, r, &cfg.Settlement, o)
		}),
		Commands: []*cli.Command{
			{
				Name:  "status",
				Usage: "per sender: last sequence loaded, gaps, quarantined batches, what waits in inbound/",
				Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}}),
				Action: app.ReadOnly(config.NeedCentral|config.NeedParties, func(c *cli.Context, cfg *config.Config) error {
					return load.Status(c.Context, &cfg.Settlement, c.App.Writer, c.Bool("json"))
				}),
			},
		},
	}
}
