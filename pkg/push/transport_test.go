package push_test

import (
	"context"
	"path/filepath"
	"testing"

	"roamsettle/internal/sshdtest"
	"roamsettle/internal/transporttest"
	"roamsettle/pkg/push"
	"roamsettle/pkg/transport/local"
	"roamsettle/pkg/transport/sftp"
)

// The suite tests exactly the methods push needs: a method added to
// push.Transport must be added to the suite too.
var (
	_ push.Transport          = transporttest.Transport(nil)
	_ transporttest.Transport = push.Transport(nil)
	_ transporttest.Streamer  = (*sftp.Client)(nil)
)

// TestTransportConformance holds every destination kind push dials to the
// contract it relies on.
func TestTransportConformance(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		transporttest.Run(t, func(t *testing.T) (transporttest.Transport, string) {
			dir := filepath.Join(t.TempDir(), "inbound")
			d, err := local.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			return d, dir
		})
	})
	t.Run("sftp", func(t *testing.T) {
		transporttest.Run(t, func(t *testing.T) (transporttest.Transport, string) {
			s := sshdtest.Start(t)
			dir := t.TempDir()
			c, err := sftp.Dial(context.Background(), sftp.Config{URL: s.URL(dir), KnownHosts: s.KnownHosts, Identity: s.ClientKey})
			if err != nil {
				t.Fatalf("dial: %v\n%s", err, s.LogText())
			}
			return c, dir
		})
	})
}
