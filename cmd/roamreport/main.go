// Command roamreport: rate sessions, write the settlement reports and DT files, and publish them.
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
		Name:  "roamreport",
		Usage: "rate sessions, write the settlement reports and DT files, and publish them (not implemented yet)",
		Flags: app.Flags(),
		Action: func(c *cli.Context) error {
			cli.ShowAppHelp(c)
			return stage.Usagef("roamreport is not implemented yet")
		},
	}
}
