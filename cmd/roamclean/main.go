// Command roamclean: turn raw records into sessions (the roaming history) and set aside duplicates, irrelevant and erroneous records.
// Not built yet: it shows its help and exits 2.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/app"
	"roamsettle/pkg/stage"
)

func main() { os.Exit(app.Main(newApp(), os.Args, os.Stderr)) }

func newApp() *cli.App {
	return &cli.App{
		Name:  "roamclean",
		Usage: "turn raw records into sessions (the roaming history) and set aside duplicates, irrelevant and erroneous records (not implemented yet)",
		Flags: app.Flags(),
		Action: func(c *cli.Context) error {
			cli.ShowAppHelp(c)
			return stage.Usagef("roamclean is not implemented yet")
		},
	}
}
