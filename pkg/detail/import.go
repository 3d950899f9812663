// Package detail reads FreeRADIUS detail files into the edge spool.
package detail

import (
	"context"
	"errors"

	"roamsettle/pkg/app"
	"roamsettle/pkg/config"
)

// Import reads the detail files into the spool, remembering how far it got.
func Import(ctx context.Context, run *app.Run, edge *config.Edge, files []string) error {
	return errors.New("import: not implemented yet")
}
