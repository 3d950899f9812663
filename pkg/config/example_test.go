package config

import (
	"path/filepath"
	"testing"
)

// The shipped examples must always load cleanly: the demo depends on them.
func TestShippedExampleLoads(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "example", "roam.toml"), false, nil, NeedEdge|NeedCentral|NeedParties)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Settlement.Partners.List) != 5 || len(cfg.Edge.NAS) != 1 || cfg.Edge.ISP != "ISPB" {
		t.Fatalf("example: %d partners, %d NAS, edge %s", len(cfg.Settlement.Partners.List), len(cfg.Edge.NAS), cfg.Edge.ISP)
	}
	// The demo's second edge.
	cfg, err = Load(filepath.Join("..", "..", "example", "edge-ISPD.toml"), false, nil, NeedEdge)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Edge.ISP != "ISPD" || len(cfg.Edge.NAS) != 1 || cfg.Edge.Listen == "" {
		t.Fatalf("edge-ISPD: %+v", cfg.Edge)
	}
}
