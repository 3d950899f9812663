package store

import "fmt"

// rawTx is a run's transaction on its own direct connection (rawConn):
// the statements it prepared, once each, and whether it has ended.
// CleanTx and ReportTx embed it.
type rawTx struct {
	c     *rawConn
	stmts map[string]*rawStmt
	done  bool
}

func newRawTx(c *rawConn) rawTx { return rawTx{c: c, stmts: map[string]*rawStmt{}} }

// stmt returns a prepared statement, prepared once per run.
func (t *rawTx) stmt(sql string) (*rawStmt, error) {
	if s, ok := t.stmts[sql]; ok {
		return s, nil
	}
	s, err := t.c.prepare(sql)
	if err != nil {
		return nil, err
	}
	t.stmts[sql] = s
	return s, nil
}

func (t *rawTx) close() {
	for _, s := range t.stmts {
		s.close()
	}
	t.stmts = nil
	t.c.close()
}

// Commit makes the run durable (synchronous=FULL).
func (t *rawTx) Commit() error {
	if t.done {
		return fmt.Errorf("commit: transaction already ended")
	}
	t.done = true
	defer t.close()
	if err := t.c.exec("COMMIT"); err != nil {
		t.c.exec("ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback abandons the run; after Commit it does nothing.
func (t *rawTx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	defer t.close()
	return t.c.exec("ROLLBACK")
}
