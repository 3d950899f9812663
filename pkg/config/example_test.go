package config

import (
	"path/filepath"
	"testing"
)

// The shipped example must always load cleanly: the demo depends on it.
func TestShippedExampleLoads(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "example", "roam.toml"), false, nil, NeedEdge|NeedCentral|NeedParties)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Settlement.Partners.List) != 3 || len(cfg.Edge.NAS) != 1 {
		t.Fatalf("example: %d partners, %d NAS", len(cfg.Settlement.Partners.List), len(cfg.Edge.NAS))
	}
}
