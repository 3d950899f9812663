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
	"roamsettle/pkg/stage"

	_ "time/tzdata" // results must not depend on the host's zoneinfo
)

// Lock files in the spool: writers of open/ share one, push and prune the other,
// so a daily push runs while the listener keeps listening.
const (
	openLock = spool.OpenLock
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
				Name:  "listen",
				Usage: "run the RADIUS accounting server (RFC 2866) writing the spool",
				Flags: flags,
				Action: edge(openLock, false, func(c *cli.Context, r *stage.Run, e *config.Edge) error {
					return acct.Serve(c.Context, r, e)
				}),
			},
			{
				Name:      "import",
				Usage:     "import FreeRADIUS detail files into the spool",
				ArgsUsage: "FILE...",
				Flags:     flags,
				Action: edge(openLock, true, func(c *cli.Context, r *stage.Run, e *config.Edge) error {
					if c.NArg() == 0 {
						return stage.Usagef("import needs at least one detail FILE")
					}
					return detail.Import(c.Context, r, e, c.Args().Slice())
				}),
			},
			{
				Name:   "sweep",
				Usage:  "close sessions with no record for longer than stale_after (no listener needed)",
				Flags:  flags,
				Action: edge(openLock, false, sweep),
			},
			{
				Name:  "push",
				Usage: "bundle spool/ready into one batch and deliver it (SFTP or a folder)",
				Flags: slices.Concat(flags, []cli.Flag{&cli.BoolFlag{Name: "insecure-ignore-host-key",
					Usage: "DANGEROUS: accept any SFTP host key (logged loudly)"}}),
				Action: edge(pushLock, false, func(c *cli.Context, r *stage.Run, e *config.Edge) error {
					if c.Bool("insecure-ignore-host-key") {
						e.InsecureIgnoreHostKey = true
					}
					return push.Push(c.Context, r, e)
				}),
			},
			{
				Name:  "prune",
				Usage: "remove sent batches from spool/sent",
				Flags: slices.Concat(flags, []cli.Flag{&cli.StringFlag{Name: "older-than", Value: "30d", Usage: "age of sent batches to remove"}}),
				Action: edge(pushLock, false, func(c *cli.Context, r *stage.Run, e *config.Edge) error {
					d, err := config.ParseDuration(c.String("older-than"))
					if err != nil || d <= 0 {
						return stage.Usagef("--older-than %q: want a duration such as 30d", c.String("older-than"))
					}
					return push.Prune(r, e, d)
				}),
			},
		},
	}
}

// edge is the action of an edge command: the [edge] configuration, the
// spool lock lockName, then f.
func edge(lockName string, args bool, f func(*cli.Context, *stage.Run, *config.Edge) error) cli.ActionFunc {
	return app.Action(app.Spec{
		Need:     config.NeedEdge,
		Sections: []string{"edge"},
		Lock:     func(cfg *config.Config) (string, string) { return cfg.Edge.Spool, lockName },
		Args:     args,
	}, func(c *cli.Context, r *stage.Run, cfg *config.Config) error {
		if err := (spool.Layout{Root: cfg.Edge.Spool}).Init(); err != nil {
			return err
		}
		return f(c, r, &cfg.Edge)
	})
}

func sweep(_ *cli.Context, r *stage.Run, e *config.Edge) error {
	st, err := spool.OpenStore(spool.Layout{Root: e.Spool})
	if err != nil {
		return err
	}
	aside := st.Aside()
	spool.LogAside(r.Log, aside)
	n, err := st.Sweep(time.Now(), e.StaleAfter)
	r.Add("closed", int64(n))
	r.Add("open", int64(st.OpenCount()))
	r.Add("set_aside", int64(len(aside)))
	if err != nil {
		return err
	}
	return stage.Attention(int64(len(aside)), "%s", spool.AsideSummary(aside))
}
