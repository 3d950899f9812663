package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"roamsettle/pkg/durable"
)

// BadDir holds, in the spool root, what the edge cannot use: damaged
// session files and journal segments, each beside a ReasonExt file that
// says why. Nothing there is sent; a person decides.
const (
	BadDir    = "bad"
	ReasonExt = ".reason"
)

// Bad is the spool's bad/ folder.
func (l Layout) Bad() string { return filepath.Join(l.Root, BadDir) }

// Aside is something the Store could not use when it opened: moved to
// bad/ (To), or, for a foreign entry that is not ours to move, left where
// it is (To is "").
type Aside struct {
	Path   string
	To     string
	Reason string
}

// LogAside logs each thing set aside, one line each, as an error: a
// person must look.
func LogAside(log *slog.Logger, asides []Aside) {
	for _, a := range asides {
		if a.To != "" {
			log.Error("spool: set aside in bad/; not used", "file", a.Path, "moved_to", a.To, "reason", a.Reason)
		} else {
			log.Error("spool: foreign entry left in place; not used", "file", a.Path, "reason", a.Reason)
		}
	}
}

// SetAside moves path into bad/ as name (its own name when ""; name+N
// when taken), with a .reason file written first, so the file is never
// there without it. It returns the new path.
func (l Layout) SetAside(path, name, reason string) (string, error) {
	bad := l.Bad()
	if err := durable.MkdirAll(bad, 0o755); err != nil {
		return "", fmt.Errorf("set aside %s: %w", path, err)
	}
	if name == "" {
		name = filepath.Base(path)
	}
	target := name
	for i := 1; ; i++ {
		_, err1 := os.Lstat(filepath.Join(bad, target))
		_, err2 := os.Lstat(filepath.Join(bad, target+ReasonExt))
		if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
			break
		}
		target = fmt.Sprintf("%s+%d", name, i)
	}
	to := filepath.Join(bad, target)
	if err := durable.WriteFile(to+ReasonExt, []byte(strings.TrimRight(reason, "\n")+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("set aside %s: %w", path, err)
	}
	if err := durable.Rename(path, to); err != nil {
		return "", fmt.Errorf("set aside %s: %w", path, err)
	}
	return to, nil
}

// validName says whether a journal entry's name can be a session file in
// open/: a plain file name of ours, never a path. A damaged or forged
// journal must not make recovery write or move anything outside open/.
func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "/\\\x00") && !strings.HasPrefix(name, ".") &&
		strings.HasSuffix(name, FileExt) && len(name) <= 255
}

// AsideSummary is the one-line message for things set aside, for the end
// of a run.
func AsideSummary(asides []Aside) string {
	if len(asides) == 0 {
		return ""
	}
	moved := 0
	for _, a := range asides {
		if a.To != "" {
			moved++
		}
	}
	return fmt.Sprintf("%d spool item(s) could not be used: %d set aside in bad/ (each with a %s), %d foreign entries left in place; first: %s: %s",
		len(asides), moved, ReasonExt, len(asides)-moved, asides[0].Path, asides[0].Reason)
}
