// Package app is the command-line harness the commands share: common
// flags, configuration with flag > env > file precedence, logging, the
// data-folder lock, and Action, which runs a stage from the command line
// (load the configuration, take the lock, run, end with the summary).
// What a stage needs while it runs is in pkg/stage, which knows nothing
// of the command line.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"roamsettle/pkg/config"
	"roamsettle/pkg/lock"
	"roamsettle/pkg/stage"
)

// Version is set at build time with -ldflags "-X roamsettle/pkg/app.Version=...".
var Version = "dev"

// ExitStatus is the EXIT STATUS section of every --help.
const ExitStatus = `
EXIT STATUS:
   0  done
   1  failed (nothing half-written; the next run carries on)
   2  bad usage or configuration (the message names the file, line and field)
   3  done, but some input was set aside (quarantined, rejected, malformed) and needs a person
   4  locked: another run holds the lock (the message names it); --wait waits instead
`

// Main runs a command's cli.App with args and returns the exit code. It
// cancels the context on SIGINT/SIGTERM so a command can stop cleanly.
// Given only one of the hidden arguments (ManPageArg, BashScriptArg,
// ZshScriptArg), it prints that to the app's Writer instead (packaging).
func Main(a *cli.App, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	Prepare(a, stderr)
	if len(args) == 2 {
		w := a.Writer
		if w == nil {
			w = os.Stdout
		}
		if ok, err := generate(a, args[1], w); ok {
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", a.Name, err)
				return 1
			}
			return 0
		}
	}
	err := a.RunContext(ctx, args)
	if err != nil && strings.HasPrefix(err.Error(), "Required flag") {
		err = &stage.UsageError{Err: err} // urfave/cli reports these without OnUsageError
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", a.Name, err)
	}
	return stage.ExitCode(err)
}

// Prepare gives a command's cli.App what Main runs it with: the version,
// exit-status help, usage errors as exit 2, and shell completion.
func Prepare(a *cli.App, stderr io.Writer) {
	a.Version = Version
	a.ErrWriter = stderr
	a.ExitErrHandler = func(*cli.Context, error) {} // we map errors ourselves
	a.OnUsageError = onUsageError
	a.CustomAppHelpTemplate = cli.AppHelpTemplate + ExitStatus
	a.EnableBashCompletion = true // the installed completion scripts ask the command
	for _, c := range a.Commands {
		setUsage(c)
	}
}

func setUsage(c *cli.Command) {
	c.OnUsageError = onUsageError
	if len(c.Subcommands) > 0 {
		c.CustomHelpTemplate = cli.SubcommandHelpTemplate + ExitStatus
	} else {
		c.CustomHelpTemplate = cli.CommandHelpTemplate + ExitStatus
	}
	for _, s := range c.Subcommands {
		setUsage(s)
	}
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return &stage.UsageError{Err: err} }

// NeedSubcommand is the root action of a command made of subcommands: bare,
// it shows help and exits 2; with an unknown word it says so.
func NeedSubcommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return stage.Usagef("unknown command %q (see --help)", c.Args().First())
	}
	cli.ShowAppHelp(c)
	return stage.Usagef("a command is needed")
}

// NoArgs refuses words after a command that takes none.
func NoArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return stage.Usagef("unknown command %q (see --help)", c.Args().First())
	}
	return nil
}

// ConfigPath is the configuration file: --config at any level (before or
// after the subcommand), else ROAM_CONFIG, else roam.toml.
func ConfigPath(c *cli.Context) string {
	if IsSet(c, "config") {
		return String(c, "config")
	}
	if v, ok := os.LookupEnv("ROAM_CONFIG"); ok && v != "" {
		return v
	}
	return c.String("config")
}

// Flags are the flags every command has.
func Flags() []cli.Flag {
	return []cli.Flag{
		// No EnvVars: urfave/cli would count ROAM_CONFIG as given on the
		// subcommand, above a --config given before it (ConfigPath).
		&cli.StringFlag{Name: "config", Value: "roam.toml", Usage: "configuration `FILE` (env ROAM_CONFIG)"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json"},
		&cli.StringFlag{Name: "metrics-file", Usage: "write Prometheus textfile metrics to `FILE` (for node_exporter)"},
		&cli.BoolFlag{Name: "wait", Usage: "wait for another run's lock instead of exiting 4"},
	}
}

// SettingFlags are the flags for every setting of the given sections; each
// also reads its ROAM_* environment variable (flag > env > file).
func SettingFlags(sections ...string) []cli.Flag {
	var out []cli.Flag
	for _, sec := range sections {
		for _, s := range config.Settings(sec) {
			if s.EnvOnly {
				continue
			}
			out = append(out, &cli.StringFlag{Name: s.Flag(), Usage: fmt.Sprintf("%s (env %s; roam.toml [%s] %s)", s.Usage, s.Env(), s.Section, s.Key), Category: "settings"})
		}
	}
	return out
}

// Overrides collects the settings given as flags or environment variables.
func Overrides(c *cli.Context, sections ...string) []config.Override {
	var out []config.Override
	for _, sec := range sections {
		for _, s := range config.Settings(sec) {
			if !s.EnvOnly && IsSet(c, s.Flag()) {
				out = append(out, config.Override{Section: s.Section, Key: s.Key, Value: String(c, s.Flag()), Source: "flag --" + s.Flag()})
			} else if v, ok := os.LookupEnv(s.Env()); ok {
				out = append(out, config.Override{Section: s.Section, Key: s.Key, Value: v, Source: "env " + s.Env()})
			}
		}
	}
	return out
}

// NewLogger makes the stderr logger for --log-format.
func NewLogger(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, stage.Usagef("--log-format %q: want text or json", format)
}

// NewRun starts a stage run from the common flags: logger, terminal,
// metrics file.
func NewRun(c *cli.Context) (*stage.Run, error) {
	log, err := NewLogger(String(c, "log-format"), c.App.ErrWriter)
	if err != nil {
		return nil, err
	}
	r := stage.New(CommandName(c), log, c.App.ErrWriter)
	if f, ok := c.App.ErrWriter.(*os.File); ok {
		r.Terminal = term.IsTerminal(int(f.Fd()))
	}
	r.MetricsFile = String(c, "metrics-file")
	return r, nil
}

// CommandName is the full name of the running command, e.g. "roamcollect
// push" or "roamload".
func CommandName(c *cli.Context) string {
	name := c.App.Name
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		name += " " + c.Command.FullName()
	}
	return name
}

// ReadOnly is the action of a subcommand that only reads (status, verify,
// rejects): no arguments, the configuration loaded, no lock, no summary
// line; f's error becomes the exit code as every other's does.
func ReadOnly(need config.Need, f func(c *cli.Context, cfg *config.Config) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := NoArgs(c); err != nil {
			return err
		}
		cfg, err := LoadConfig(c, need, "settlement")
		if err != nil {
			return err
		}
		return f(c, cfg)
	}
}

// LoadConfig loads the configuration for the sections a command needs,
// with its flag and environment overrides.
func LoadConfig(c *cli.Context, need config.Need, sections ...string) (*config.Config, error) {
	return config.Load(ConfigPath(c), false, Overrides(c, sections...), need)
}

// Lock takes the lock file name in dir, honouring --wait: a waiting run
// says once whom it waits for, and a signal while it waits ends it
// (exit 1) with a message saying so.
func Lock(c *cli.Context, log *slog.Logger, dir, name string) (*lock.Lock, error) {
	waiting := func(holder string) {
		log.Info("waiting for the lock", "lock", dir+"/"+name, "holder", holder)
	}
	lk, err := lock.Acquire(c.Context, dir, name, CommandName(c), Bool(c, "wait"), waiting)
	if err != nil && c.Context.Err() != nil && errors.Is(err, c.Context.Err()) {
		return nil, fmt.Errorf("stopped by a signal while waiting for the lock %s/%s: %w", dir, name, err)
	}
	return lk, err
}

// Spec says what a stage command needs before its stage runs.
type Spec struct {
	Need     config.Need // the configuration sections checked
	Sections []string    // the sections whose settings flags and ROAM_* variables may override
	// Lock names the lock file the run holds (dir, file name); nil: none.
	Lock func(*config.Config) (dir, name string)
	Args bool // the command takes words after it (files); otherwise they are refused
}

// Action makes the action of a stage command: start the run, load and
// check the configuration, take the lock, run f, and end with the
// one-line summary (and the metrics file), whatever the outcome.
func Action(spec Spec, f func(c *cli.Context, r *stage.Run, cfg *config.Config) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if !spec.Args {
			if err := NoArgs(c); err != nil {
				return err
			}
		}
		r, err := NewRun(c)
		if err != nil {
			return err
		}
		cfg, err := LoadConfig(c, spec.Need, spec.Sections...)
		if err != nil {
			return r.Finish(err)
		}
		if spec.Lock != nil {
			dir, name := spec.Lock(cfg)
			lk, err := Lock(c, r.Log, dir, name)
			if err != nil {
				return r.Finish(err)
			}
			defer lk.Release()
		}
		return r.Finish(f(c, r, cfg))
	}
}
