package push_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roamsettle/internal/sshdtest"
	"roamsettle/internal/testbin"
)

// roamcollect runs the real binary with a clean environment and returns
// its exit code and stderr.
func roamcollect(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return testbin.Run(t, "roamcollect", nil, args...) // no SSH_AUTH_SOCK, no ROAM_*
}

func writeConfig(t *testing.T, dir, push, extra string) string {
	t.Helper()
	cfg := filepath.Join(dir, "roam.toml")
	text := fmt.Sprintf("[edge]\nisp = \"ISPB\"\nspool = \"spool\"\npush = %q\n%s", push, extra)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRoamcollectPushSFTP(t *testing.T) {
	s := sshdtest.Start(t)
	dir := t.TempDir()
	inbound := filepath.Join(dir, "inbound")
	os.Mkdir(inbound, 0o755)
	emptyKnown := filepath.Join(dir, "empty_known_hosts")
	os.WriteFile(emptyKnown, nil, 0o600)
	spoolDir := filepath.Join(dir, "spool")
	recs := writeReady(t, spoolDir, 50, 0)
	push := s.URL(inbound).String()

	// An unknown host: refused, exit 1, the command to trust it, spool untouched.
	cfg := writeConfig(t, dir, push, fmt.Sprintf("known_hosts = %q\nidentity = %q\n", emptyKnown, s.ClientKey))
	code, stderr := roamcollect(t, "--config", cfg, "push")
	if code != 1 || !strings.Contains(stderr, "UNKNOWN") || !strings.Contains(stderr, "ssh-keyscan -p") {
		t.Fatalf("unknown host: exit %d\n%s", code, stderr)
	}
	if r, _, _ := countRecords(t, spoolDir); r != recs {
		t.Fatal("spool moved after a refused push")
	}

	// Trusted: delivered, summary line, spool moved to sent/.
	cfg = writeConfig(t, dir, push, fmt.Sprintf("known_hosts = %q\nidentity = %q\n", s.KnownHosts, s.ClientKey))
	code, stderr = roamcollect(t, "--config", cfg, "push")
	if code != 0 {
		t.Fatalf("push: exit %d\n%s", code, stderr)
	}
	for _, w := range []string{"summary: done", "batch 1", "files 50", fmt.Sprintf("records %d", recs)} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	checkCentral(t, inbound, "ISPB-0000000001")
	if r, sent, _ := countRecords(t, spoolDir); r != 0 || sent != recs {
		t.Fatalf("ready %d sent %d", r, sent)
	}

	// --insecure-ignore-host-key: works with no known host, warns loudly.
	writeReady(t, spoolDir, 2, 500)
	cfg = writeConfig(t, dir, push, fmt.Sprintf("known_hosts = %q\nidentity = %q\n", emptyKnown, s.ClientKey))
	code, stderr = roamcollect(t, "--config", cfg, "push", "--insecure-ignore-host-key")
	if code != 0 || !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "INSECURE") {
		t.Fatalf("insecure: exit %d\n%s", code, stderr)
	}
	checkCentral(t, inbound, "ISPB-0000000001", "ISPB-0000000002")

	// prune keeps recent batches.
	code, stderr = roamcollect(t, "--config", cfg, "prune", "--older-than", "30d")
	if code != 0 || !strings.Contains(stderr, "pruned 0") {
		t.Fatalf("prune: exit %d\n%s", code, stderr)
	}
	if n := names(t, filepath.Join(spoolDir, "sent")); len(n) != 2 {
		t.Fatalf("sent/ holds %v", n)
	}
}

func TestRoamcollectPushFolder(t *testing.T) {
	dir := t.TempDir()
	recs := writeReady(t, filepath.Join(dir, "spool"), 7, 0)
	cfg := writeConfig(t, dir, "outbox", "")
	code, stderr := roamcollect(t, "--config", cfg, "push")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	checkCentral(t, filepath.Join(dir, "outbox"), "ISPB-0000000001")
	if r, sent, _ := countRecords(t, filepath.Join(dir, "spool")); r != 0 || sent != recs {
		t.Fatalf("ready %d sent %d", r, sent)
	}
}
