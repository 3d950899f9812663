package local_test

import (
	"path/filepath"
	"testing"

	"roamsettle/internal/transporttest"
	"roamsettle/pkg/transport/local"
)

var _ transporttest.Reader = (*local.Dir)(nil)

// TestConformance holds a folder to the contract of push and publish (push
// runs the same suite on it among its destinations).
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) (transporttest.Transport, string) {
		dir := filepath.Join(t.TempDir(), "publish")
		d, err := local.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return d, dir
	})
}
