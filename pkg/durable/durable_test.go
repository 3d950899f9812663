package durable

import (
	"errors"
	"syscall"

	"os"
	"path/filepath"
	"roamsettle/internal/testbin"
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

func TestMoveAcrossFileSystems(t *testing.T) {
	src := filepath.Join(t.TempDir(), "ISPB-1.tar")
	dst := filepath.Join(testbin.OtherFS(t), "ISPB-1.tar")
	os.WriteFile(src, []byte("batch data"), 0o640)
	if err := os.Rename(src, dst); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("the folders are not on two file systems: rename says %v", err)
	}
	if err := Move(src, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil || string(b) != "batch data" {
		t.Fatalf("moved content %q, %v", b, err)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	if _, err := os.Stat(src); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("source still there: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 1 {
		t.Errorf("leftovers beside the target: %v", ents)
	}
	same, err := SameContent(dst, dst)
	if !same || err != nil {
		t.Errorf("SameContent of a file with itself: %v %v", same, err)
	}
}
