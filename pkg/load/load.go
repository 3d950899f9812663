// Package load is the roamload stage: verified batches into the raw store.
package load

import (
	"context"
	"errors"
	"io"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
)

// Options are roamload's switches.
type Options struct {
	DryRun bool
}

// Load loads every complete batch in the inbound folder.
func Load(ctx context.Context, run *app.Run, s *config.Settlement, opts Options) error {
	return errors.New("roamload: not implemented yet")
}

// Status writes per-sender sequence status to w.
func Status(ctx context.Context, s *config.Settlement, w io.Writer, asJSON bool) error {
	return errors.New("roamload status: not implemented yet")
}
