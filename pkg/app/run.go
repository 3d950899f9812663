package app

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"roamsettle/pkg/durable"
)

// Run is one run of a command: its logger and its counts, which end as the
// one-line summary and the metrics file.
type Run struct {
	Name    string // e.g. "roamload" or "roamcollect push"
	Log     *slog.Logger
	Stderr  io.Writer
	start   time.Time
	names   []string
	counts  map[string]int64
	metrics string
}

// NewRun starts a run from the common flags.
func NewRun(c *cli.Context) (*Run, error) {
	log, err := NewLogger(String(c, "log-format"), c.App.ErrWriter)
	if err != nil {
		return nil, err
	}
	return &Run{Name: CommandName(c), Log: log, Stderr: c.App.ErrWriter, start: time.Now(),
		counts: map[string]int64{}, metrics: String(c, "metrics-file")}, nil
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

// Add adds n to a count; counts keep the order they were first added.
func (r *Run) Add(name string, n int64) {
	if _, ok := r.counts[name]; !ok {
		r.names = append(r.names, name)
	}
	r.counts[name] += n
}

// Count returns a count.
func (r *Run) Count(name string) int64 { return r.counts[name] }

// Finish logs the one-line summary, writes the metrics file, and returns
// err unchanged so a command can end with `return run.Finish(err)`.
func (r *Run) Finish(err error) error {
	elapsed := time.Since(r.start)
	var b strings.Builder
	for i, n := range r.names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", n, r.counts[n])
	}
	status := "done"
	switch ExitCode(err) {
	case ExitOK:
	case ExitAttention:
		status = "done, needs attention"
	default:
		status = "failed"
	}
	attrs := []any{"status", status, "seconds", fmt.Sprintf("%.3f", elapsed.Seconds())}
	for _, n := range r.names {
		attrs = append(attrs, n, r.counts[n])
	}
	r.Log.Info(fmt.Sprintf("summary: %s: %s in %.1fs", status, b.String(), elapsed.Seconds()), attrs...)
	if r.metrics != "" {
		if merr := r.writeMetrics(err, elapsed); merr != nil {
			r.Log.Error("cannot write metrics file", "file", r.metrics, "err", merr)
		}
	}
	return err
}

// writeMetrics writes the Prometheus textfile; the last-success time is
// carried over from the previous file when this run failed.
func (r *Run) writeMetrics(runErr error, elapsed time.Duration) error {
	prefix := "roam_" + strings.NewReplacer(" ", "_", "-", "_").Replace(r.Name)
	lastOK := previousValue(r.metrics, prefix+"_last_success_timestamp_seconds")
	code := ExitCode(runErr)
	if code == ExitOK || code == ExitAttention {
		lastOK = fmt.Sprint(time.Now().Unix())
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# HELP %s_items Counts of the last run.\n# TYPE %s_items gauge\n", prefix, prefix)
	for _, n := range r.names {
		fmt.Fprintf(&buf, "%s_items{kind=%q} %d\n", prefix, n, r.counts[n])
	}
	fmt.Fprintf(&buf, "# HELP %s_duration_seconds Duration of the last run.\n# TYPE %s_duration_seconds gauge\n%s_duration_seconds %.3f\n", prefix, prefix, prefix, elapsed.Seconds())
	fmt.Fprintf(&buf, "# HELP %s_exit_code Exit code of the last run.\n# TYPE %s_exit_code gauge\n%s_exit_code %d\n", prefix, prefix, prefix, code)
	if lastOK != "" {
		fmt.Fprintf(&buf, "# HELP %s_last_success_timestamp_seconds When the last successful run ended.\n# TYPE %s_last_success_timestamp_seconds gauge\n%s_last_success_timestamp_seconds %s\n", prefix, prefix, prefix, lastOK)
	}
	return durable.WriteFile(r.metrics, buf.Bytes(), 0o644)
}

func previousValue(path, metric string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), metric+" "); ok {
			return v
		}
	}
	return ""
}

// NewRunTo starts a run without a command line: a text logger on stderr,
// no metrics file. For embedding the stages and for tests.
func NewRunTo(name string, stderr io.Writer) *Run {
	return &Run{Name: name, Log: slog.New(slog.NewTextHandler(stderr, nil)), Stderr: stderr,
		start: time.Now(), counts: map[string]int64{}}
}
