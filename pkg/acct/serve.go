// Package acct is the RADIUS accounting server (RFC 2866) of the edge.
package acct

import (
	"context"
	"errors"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
)

// Serve runs the accounting listener until ctx ends.
func Serve(ctx context.Context, run *app.Run, edge *config.Edge) error {
	return errors.New("listen: not implemented yet")
}
