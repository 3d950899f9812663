// Package push bundles the edge's ready sessions into a batch and delivers
// it to the central host.
package push

import (
	"context"
	"errors"
	"time"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
)

// Push sends the pending batch, or a new one made of spool/ready/.
func Push(ctx context.Context, run *app.Run, edge *config.Edge) error {
	return errors.New("push: not implemented yet")
}

// Prune removes sent batches older than olderThan.
func Prune(run *app.Run, edge *config.Edge, olderThan time.Duration) error {
	return errors.New("prune: not implemented yet")
}
