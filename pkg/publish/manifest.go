package publish

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// manifestHeader is the first line of a report MANIFEST (pkg/report).
const manifestHeader = "#roamreport 1"

// entry is a "file SHA256 SIZE NAME" line of a MANIFEST.
type entry struct {
	name, sha256 string
	size         int64
}

// parseManifest reads the file lines of a report MANIFEST; name is used in
// messages. It checks the frame (header first, "end" last) so a truncated
// MANIFEST is never taken for a whole one.
func parseManifest(data []byte, name string) ([]entry, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var out []entry
	seen := map[string]bool{}
	ln, ended := 0, false
	for sc.Scan() {
		ln++
		line := sc.Text()
		switch {
		case ended:
			return nil, fmt.Errorf("%s:%d: text after \"end\"", name, ln)
		case ln == 1:
			if line != manifestHeader {
				return nil, fmt.Errorf("%s:1: not a report MANIFEST (want %q)", name, manifestHeader)
			}
		case line == "end":
			ended = true
		case strings.HasPrefix(line, "file "):
			f := strings.SplitN(line, " ", 4)
			if len(f) != 4 {
				return nil, fmt.Errorf("%s:%d: want \"file SHA256 SIZE NAME\"", name, ln)
			}
			size, err := strconv.ParseInt(f[2], 10, 64)
			if len(f[1]) != 64 || strings.Trim(f[1], "0123456789abcdef") != "" || err != nil || size < 0 || !safeName(f[3]) {
				return nil, fmt.Errorf("%s:%d: want \"file SHA256 SIZE NAME\" (hex SHA-256, a size, a plain file name)", name, ln)
			}
			if seen[f[3]] {
				return nil, fmt.Errorf("%s:%d: %s listed twice", name, ln, f[3])
			}
			seen[f[3]] = true
			out = append(out, entry{name: f[3], sha256: f[1], size: size})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, ln+1, err)
	}
	if !ended {
		return nil, fmt.Errorf("%s:%d: no \"end\" line: the MANIFEST is cut short", name, ln)
	}
	return out, nil
}

// safeName is a file name that stays in its folder, local or remote.
func safeName(n string) bool {
	return n != "" && n != "." && n != ".." && n != "MANIFEST" && !strings.ContainsAny(n, "/\\\x00\r\n") && !strings.HasPrefix(n, ".")
}
