// Command roamload runs on the central host: it verifies the batches in
// the inbound folder and loads them into the SQLite raw store.
package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
	"roamsettle/pkg/load"

	_ "time/tzdata" // results must not depend on the host's zoneinfo
)

func main() {
	// The load allocates many short-lived strings while its live heap stays
	// a few MB; the default GOGC would collect every few MB. A higher
	// target keeps memory flat (bounded) and spends less time in GC.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(app.Main(newApp(), os.Args, os.Stderr))
}

// crashEnv names a load.Crash* point at which roamload kills itself with
// SIGKILL, the first time it gets there. Only the crash tests set it.
const crashEnv = "ROAMLOAD_TEST_CRASH"

func crashHook(at string) func(string) {
	if at == "" {
		return nil
	}
	return func(point string) {
		if point == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

func newApp() *cli.App {
	flags := append(app.Flags(), app.SettingFlags("settlement")...)
	return &cli.App{
		Name:  "roamload",
		Usage: "load verified batches from the inbound folder into the raw store",
		Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "check every batch, load nothing, move nothing"}}),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return app.Usagef("unknown command %q (see --help)", c.Args().First())
			}
			run, err := app.NewRun(c)
			if err != nil {
				return err
			}
			cfg, err := app.LoadConfig(c, config.NeedCentral, "settlement")
			if err != nil {
				return err
			}
			lk, err := app.Lock(c, filepath.Dir(cfg.Settlement.DB), ".roam.lock")
			if err != nil {
				return err
			}
			defer lk.Release()
			opts := load.Options{DryRun: c.Bool("dry-run"), Crash: crashHook(os.Getenv(crashEnv))}
			return run.Finish(load.Load(c.Context, run, &cfg.Settlement, opts))
		},
		Commands: []*cli.Command{
			{
				Name:  "status",
				Usage: "per sender: last sequence loaded, gaps, quarantined batches",
				Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}}),
				Action: func(c *cli.Context) error {
					cfg, err := app.LoadConfig(c, config.NeedCentral, "settlement")
					if err != nil {
						return err
					}
					return load.Status(c.Context, &cfg.Settlement, c.App.Writer, c.Bool("json"))
				},
			},
		},
	}
}
