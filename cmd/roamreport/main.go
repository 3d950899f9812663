// Command roamreport runs on the central host: it rates the sessions of a
// period, writes each ISP's settlement reports and detail-transaction
// file, and checks them again (verify).
package main

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
	"roamsettle/pkg/publish"
	"roamsettle/pkg/report"
	"roamsettle/pkg/stage"

	_ "time/tzdata" // results must not depend on the host's zoneinfo
)

func main() { os.Exit(app.Main(newApp(report.Options{}, publish.Options{}), os.Args, os.Stderr)) }

// centralLock is the lock of every central run, beside the database.
func centralLock(cfg *config.Config) (string, string) {
	return filepath.Dir(cfg.Settlement.DB), ".roam.lock"
}

// newApp builds the command; opts and pubOpts are the report's and the
// publisher's options (tests inject crash points and pauses here).
func newApp(opts report.Options, pubOpts publish.Options) *cli.App {
	flags := append(app.Flags(), app.SettingFlags("settlement")...)
	need := config.NeedCentral | config.NeedParties
	period := &cli.StringFlag{Name: "period", Usage: "calendar month `YYYY-MM` (UTC, by stop time); default: the last complete month"}
	return &cli.App{
		Name:  "roamreport",
		Usage: "rate the sessions of a period and write each ISP's settlement reports and DT file",
		Flags: slices.Concat(flags, []cli.Flag{period,
			&cli.BoolFlag{Name: "revise", Usage: "when the history of a reported period changed, write its next revision (rev-N) beside the earlier ones"},
			&cli.BoolFlag{Name: "publish", Usage: "then publish the period's latest revision (as roamreport publish), unless the report needs a person (exit 3)"}}),
		Action: app.Action(app.Spec{Need: need, Sections: []string{"settlement"}, Lock: centralLock},
			func(c *cli.Context, r *stage.Run, cfg *config.Config) error {
				o := opts
				o.Period, o.Revise = c.String("period"), c.Bool("revise")
				if o.Period == "" {
					o.Period = report.DefaultPeriod(time.Now())
				}
				if err := report.Report(c.Context, r, &cfg.Settlement, o); err != nil || !c.Bool("publish") {
					return err
				}
				p := pubOpts
				p.Period = o.Period
				return publish.Publish(c.Context, r, &cfg.Settlement, p)
			}),
		Commands: []*cli.Command{
			{
				Name:  "publish",
				Usage: "upload each ISP's folder of a reported revision to its FTP directory (or folder): temporary names, sizes checked, MANIFEST last; what is there already is not sent again",
				Flags: slices.Concat(flags, []cli.Flag{period,
					&cli.Int64Flag{Name: "revision", Usage: "the revision to publish; default: the latest, unless it has NO_TARIFF sessions (those go only when named)"},
					&cli.BoolFlag{Name: "force", Usage: "send every file even when the destination has it"}}),
				Action: app.Action(app.Spec{Need: need, Sections: []string{"settlement"}, Lock: centralLock},
					func(c *cli.Context, r *stage.Run, cfg *config.Config) error {
						p := pubOpts
						p.Period, p.Revision, p.Force = c.String("period"), c.Int64("revision"), c.Bool("force")
						if p.Period == "" {
							p.Period = report.DefaultPeriod(time.Now())
						}
						return publish.Publish(c.Context, r, &cfg.Settlement, p)
					}),
			},
			{
				Name:  "status",
				Usage: "list the reported revisions of every period (or one) with their totals, and what each ISP was given and when (takes no lock)",
				Flags: slices.Concat(flags, []cli.Flag{
					&cli.StringFlag{Name: "period", Usage: "only this calendar month `YYYY-MM`"},
					&cli.BoolFlag{Name: "json", Usage: "one JSON object (docs/publish.md)"},
				}),
				Action: app.ReadOnly(need, func(c *cli.Context, cfg *config.Config) error {
					return publish.Status(c.Context, &cfg.Settlement, c.App.Writer, c.String("period"), c.Bool("json"))
				}),
			},
			{
				Name:  "verify",
				Usage: "recompute a reported period from the history and tariffs and compare it, file by file, with what is on disk (takes no lock)",
				Flags: slices.Concat(flags, []cli.Flag{
					&cli.StringFlag{Name: "period", Required: true, Usage: "calendar month `YYYY-MM`"},
					&cli.Int64Flag{Name: "revision", Usage: "the revision to check; default: the latest"},
				}),
				Action: app.ReadOnly(need, func(c *cli.Context, cfg *config.Config) error {
					return report.Verify(c.Context, &cfg.Settlement, c.App.Writer, c.String("period"), c.Int64("revision"))
				}),
			},
		},
	}
}
