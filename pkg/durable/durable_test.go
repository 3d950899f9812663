package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAndRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	if err := WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	sub := filepath.Join(dir, "x", "y")
	if err := MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Rename(p, filepath.Join(sub, "b.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sub, "b.txt")); err != nil {
		t.Fatal(err)
	}
}
