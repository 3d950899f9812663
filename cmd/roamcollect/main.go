// Command roamcollect runs on the edge host of a local ISP: the RADIUS
// accounting listener, the FreeRADIUS detail importer, the stale-session
// sweep and the daily push of the spool to the central host.
package main

import (
	"os"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/acct"
	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
	"roamsettle/pkg/detail"
	"roamsettle/pkg/push"
	"roamsettle/pkg/spool"

	_ "time/tzdata" // results must not depend on the host's zoneinfo
)

// Lock files in the spool: writers of open/ share one, push and prune the other,
// so a daily push runs while the listener keeps listening.
const (
	openLock = ".open.lock"
	pushLock = ".push.lock"
)

func main() { os.Exit(app.Main(newApp(), os.Args, os.Stderr)) }

func newApp() *cli.App {
	flags := append(app.Flags(), app.SettingFlags("edge")...)
	return &cli.App{
		Name:   "roamcollect",
		Usage:  "collect RADIUS accounting at a local ISP's edge and push it to the settlement operator",
		Flags:  flags,
		Action: app.NeedSubcommand,
		Commands: []*cli.Command{
			{
				Name:   "listen",
				Usage:  "run the RADIUS accounting server (RFC 2866) writing the spool",
				Flags:  flags,
				Action: edgeAction(openLock, func(c *cli.Context, run *app.Run, e *config.Edge) error { return acct.Serve(c.Context, run, e) }),
			},
			{
				Name:      "import",
				Usage:     "import FreeRADIUS detail files into the spool",
				ArgsUsage: "FILE...",
				Flags:     flags,
				Action: edgeAction(openLock, func(c *cli.Context, run *app.Run, e *config.Edge) error {
					if c.NArg() == 0 {
						return app.Usagef("import needs at least one detail FILE")
					}
					return detail.Import(c.Context, run, e, c.Args().Slice())
				}),
			},
			{
				Name:   "sweep",
				Usage:  "close sessions with no record for longer than stale_after (no listener needed)",
				Flags:  flags,
				Action: edgeAction(openLock, sweep),
			},
			{
				Name:  "push",
				Usage: "bundle spool/ready into one batch and deliver it (SFTP or a folder)",
				Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "insecure-ignore-host-key",
					Usage: "DANGEROUS: accept any SFTP host key (logged loudly)"}}),
				Action: edgeAction(pushLock, func(c *cli.Context, run *app.Run, e *config.Edge) error {
					if c.Bool("insecure-ignore-host-key") {
						e.InsecureIgnoreHostKey = true
					}
					return push.Push(c.Context, run, e)
				}),
			},
			{
				Name:  "prune",
				Usage: "remove sent batches from spool/sent",
				Flags: slices.Concat(flags, []cli.Flag{&cli.StringFlag{Name: "older-than", Value: "30d", Usage: "age of sent batches to remove"}}),
				Action: edgeAction(pushLock, func(c *cli.Context, run *app.Run, e *config.Edge) error {
					d, err := config.ParseDuration(c.String("older-than"))
					if err != nil || d <= 0 {
						return app.Usagef("--older-than %q: want a duration such as 30d", c.String("older-than"))
					}
					return push.Prune(run, e, d)
				}),
			},
		},
	}
}

// edgeAction loads the [edge] configuration, takes the spool lock and
// runs f, ending with the summary line.
func edgeAction(lockName string, f func(*cli.Context, *app.Run, *config.Edge) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		run, err := app.NewRun(c)
		if err != nil {
			return err
		}
		cfg, err := app.LoadConfig(c, config.NeedEdge, "edge")
		if err != nil {
			return err
		}
		if err := (spool.Layout{Root: cfg.Edge.Spool}).Init(); err != nil {
			return err
		}
		lk, err := app.Lock(c, cfg.Edge.Spool, lockName)
		if err != nil {
			return err
		}
		defer lk.Release()
		return run.Finish(f(c, run, &cfg.Edge))
	}
}

func sweep(_ *cli.Context, run *app.Run, e *config.Edge) error {
	st, err := spool.OpenStore(spool.Layout{Root: e.Spool})
	if err != nil {
		return err
	}
	n, err := st.Sweep(time.Now(), e.StaleAfter)
	run.Add("closed", int64(n))
	run.Add("open", int64(st.OpenCount()))
	return err
}
