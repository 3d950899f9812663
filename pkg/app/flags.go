package app

import "github.com/urfave/cli/v2"

// The common flags are defined on a command and on its subcommands, so
// "roamcollect --config x push" and "roamcollect push --config x" both
// work. urfave/cli reads a subcommand's own (default) value first; these
// helpers take the value from whichever level actually set it.

func setAt(c *cli.Context, name string) *cli.Context {
	for _, x := range c.Lineage() {
		for _, n := range x.LocalFlagNames() {
			if n == name {
				return x
			}
		}
	}
	return nil
}

// String is the value of a string flag given at any level, else its
// environment or default value.
func String(c *cli.Context, name string) string {
	if x := setAt(c, name); x != nil {
		return x.String(name)
	}
	return c.String(name)
}

// Bool is String for a boolean flag.
func Bool(c *cli.Context, name string) bool {
	if x := setAt(c, name); x != nil {
		return x.Bool(name)
	}
	return c.Bool(name)
}

// IsSet says whether a flag was given on the command line at any level.
func IsSet(c *cli.Context, name string) bool { return setAt(c, name) != nil }
