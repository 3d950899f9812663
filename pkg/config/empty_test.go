package config

import (
	"strings"
	"testing"
)

// An empty --config= names no file: the message says so, not "<cwd> is
// not a regular file" (the working folder, with a file
// type shown as if it were permissions); a folder is named as one.
func TestLoadEmptyPathAndFolder(t *testing.T) {
	_, err := Load("", false, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "no configuration file named (--config or ROAM_CONFIG is empty)") {
		t.Errorf("empty path: %v", err)
	}
	_, err = Load(t.TempDir(), false, nil, 0)
	if err == nil || !strings.Contains(err.Error(), ": a folder, not a regular file") {
		t.Errorf("folder: %v", err)
	}
}
