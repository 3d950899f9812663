// Package app is the run harness the four commands share: common flags,
// configuration with flag > env > file precedence, logging, the data-folder
// lock, the one-line summary, Prometheus metrics and, in one place, the
// mapping from errors to exit codes.
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
)

// Exit codes, DESIGN.md "Command-line contract".
const (
	ExitOK        = 0
	ExitFailed    = 1
	ExitUsage     = 2
	ExitAttention = 3
	ExitLocked    = 4
)

// Version is set at build time with -ldflags "-X roamsettle/pkg/app.Version=...".
var Version = "dev"

// UsageError is bad usage or configuration: exit 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef makes a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// AttentionError is a run that finished but set input aside for a person
// (quarantined, rejected, malformed): exit 3.
type AttentionError struct{ Msg string }

func (e *AttentionError) Error() string { return e.Msg }

// ExitCode maps an error returned by a command to its exit code. This is
// the only place where that happens.
func ExitCode(err error) int {
	var (
		usage *UsageError
		cfg   config.Errors
		cfg1  *config.Error
		held  *lock.HeldError
		att   *AttentionError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &held):
		return ExitLocked
	case errors.As(err, &usage), errors.As(err, &cfg), errors.As(err, &cfg1):
		return ExitUsage
	case errors.As(err, &att):
		return ExitAttention
	default:
		return ExitFailed
	}
}

// Main runs a command's cli.App with args and returns the exit code. It
// cancels the context on SIGINT/SIGTERM so a command can stop cleanly.
func Main(a *cli.App, args []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a.Version = Version
	a.ErrWriter = stderr
	a.ExitErrHandler = func(*cli.Context, error) {} // we map errors ourselves
	a.OnUsageError = onUsageError
	for _, c := range a.Commands {
		setUsage(c)
	}
	err := a.RunContext(ctx, args)
	if err != nil && strings.HasPrefix(err.Error(), "Required flag") {
		err = &UsageError{err} // urfave/cli reports these without OnUsageError
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", a.Name, err)
	}
	return ExitCode(err)
}

func setUsage(c *cli.Command) {
	c.OnUsageError = onUsageError
	for _, s := range c.Subcommands {
		setUsage(s)
	}
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return &UsageError{err} }

// NeedSubcommand is the root action of a command made of subcommands: bare,
// it shows help and exits 2; with an unknown word it says so.
func NeedSubcommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return Usagef("unknown command %q (see --help)", c.Args().First())
	}
	cli.ShowAppHelp(c)
	return Usagef("a command is needed")
}

// Flags are the flags every command has.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Value: "roam.toml", EnvVars: []string{"ROAM_CONFIG"}, Usage: "configuration `FILE`"},
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
			if IsSet(c, s.Flag()) {
				out = append(out, config.Override{Key: s.Key, Value: String(c, s.Flag()), Source: "flag --" + s.Flag()})
			} else if v, ok := os.LookupEnv(s.Env()); ok {
				out = append(out, config.Override{Key: s.Key, Value: v, Source: "env " + s.Env()})
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
	return nil, Usagef("--log-format %q: want text or json", format)
}

// IsTerminal says whether f is a terminal (progress bars only then).
func IsTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// LoadConfig loads the configuration for the sections a command needs,
// with its flag and environment overrides.
func LoadConfig(c *cli.Context, need config.Need, sections ...string) (*config.Config, error) {
	return config.Load(String(c, "config"), false, Overrides(c, sections...), need)
}

// Lock takes the data-folder lock, honouring --wait.
func Lock(c *cli.Context, dir, name string) (*lock.Lock, error) {
	return lock.Acquire(c.Context, dir, name, CommandName(c), Bool(c, "wait"))
}
