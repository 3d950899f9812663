// Package stage is what a stage needs while it runs, without any command
// line: its logger and counts (which end as the one-line summary and the
// Prometheus metrics file), a progress bar, the errors that mean "bad
// usage" and "done, but a person must look", and, in one place, the
// mapping from errors to exit codes. pkg/app builds runs from the command
// line; tests and embedders build them with New.
package stage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

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

// Attention returns an *AttentionError naming n things set aside, or nil
// when n is 0: the usual end of a stage.
func Attention(n int64, format string, args ...any) error {
	if n == 0 {
		return nil
	}
	return &AttentionError{Msg: fmt.Sprintf(format, args...)}
}

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

// Status is how the summary line names an exit code.
func Status(code int) string {
	switch code {
	case ExitOK:
		return "done"
	case ExitAttention:
		return "done, needs attention"
	case ExitUsage:
		return "bad usage or configuration"
	case ExitLocked:
		return "locked"
	}
	return "failed"
}

// Run is one run of a stage: its logger and its counts.
type Run struct {
	Name        string // e.g. "roamload" or "roamcollect push"
	Log         *slog.Logger
	Stderr      io.Writer
	Terminal    bool   // stderr is a terminal: progress bars are drawn
	MetricsFile string // Prometheus textfile written by Finish; "" for none
	start       time.Time
	names       []string
	counts      map[string]int64
}

// New starts a run that logs to log and draws nothing.
func New(name string, log *slog.Logger, stderr io.Writer) *Run {
	return &Run{Name: name, Log: log, Stderr: stderr, start: time.Now(), counts: map[string]int64{}}
}

// NewText starts a run with a text logger on stderr: for embedding the
// stages and for tests.
func NewText(name string, stderr io.Writer) *Run {
	return New(name, slog.New(slog.NewTextHandler(stderr, nil)), stderr)
}

// Add adds n to a count; counts keep the order they were first added.
func (r *Run) Add(name string, n int64) {
	if _, ok := r.counts[name]; !ok {
		r.names = append(r.names, name)
	}
	r.counts[name] += n
}

// Count returns a count.
func (r *Run) Count(name string) int64 { return r.counts[name] }

// Progress starts a bar counting to total in unit ("B" shows sizes); it
// is nil, and every method a no-op, unless stderr is a terminal.
func (r *Run) Progress(label, unit string, total int64) *Progress {
	if !r.Terminal || total <= 0 {
		return nil
	}
	return &Progress{w: r.Stderr, label: label, unit: unit, total: total, start: time.Now()}
}

// Finish logs the one-line summary, writes the metrics file, and returns
// err unchanged so a command can end with `return run.Finish(err)`.
func (r *Run) Finish(err error) error {
	elapsed := time.Since(r.start)
	code := ExitCode(err)
	status := Status(code)
	var b []byte
	for i, n := range r.names {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, "%s %d", n, r.counts[n])
	}
	attrs := []any{"status", status, "exit_code", code, "seconds", fmt.Sprintf("%.3f", elapsed.Seconds())}
	for _, n := range r.names {
		attrs = append(attrs, n, r.counts[n])
	}
	r.Log.Info(fmt.Sprintf("summary: %s: %s in %.1fs", status, b, elapsed.Seconds()), attrs...)
	if r.MetricsFile != "" {
		if merr := r.writeMetrics(code, elapsed); merr != nil {
			r.Log.Error("cannot write metrics file", "file", r.MetricsFile, "err", merr)
		}
	}
	return err
}
