package config

import (
	"fmt"
	"strings"
)

// Error is one mistake in the configuration, placed as precisely as we can:
// file and line, or the flag or environment variable that set the value.
type Error struct {
	File  string // file name, or "flag --x" / "env ROAM_X" for overrides
	Line  int    // 1-based; 0 when unknown
	Field string // e.g. "edge.stale_after", "realms"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// Errors is every mistake found in one load; all are reported at once so a
// sysadmin fixes the file in one pass.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

func (es *Errors) add(file string, line int, field, format string, args ...any) {
	*es = append(*es, &Error{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}
