package store

import (
	"fmt"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// rawConn is a SQLite connection used through the C API directly, for the
// one hot path: inserting a batch's rows. database/sql costs, per value,
// an interface box, a C copy with malloc and free, and a mutex round trip
// in SQLite; here a row's text is copied once into a buffer the statement
// reads in place (SQLITE_STATIC) and the connection has no mutex (it is
// used by one goroutine at a time). Everything else goes through
// database/sql.
type rawConn struct {
	tls  *libc.TLS
	db   uintptr
	path string // the database file, named in every error
}

// cmem is C memory (from the TLS allocator) at address p: outside Go's
// heap, so it never moves.
func cmem(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

func openRaw(path string) (*rawConn, error) {
	c := &rawConn{tls: libc.NewTLS(), path: path}
	name, err := libc.CString(path)
	if err != nil {
		c.tls.Close()
		return nil, err
	}
	defer libc.Xfree(c.tls, name)
	pdb := c.tls.Alloc(8)
	defer c.tls.Free(8)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(cmem(pdb))
	if rc != sqlite3.SQLITE_OK {
		err := c.err(rc, "open")
		c.close()
		return nil, err
	}
	sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	return c, nil
}

func (c *rawConn) close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	c.tls.Close()
}

func (c *rawConn) err(rc int32, what string) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	// The file is named: "database or disk is full" or "disk I/O error"
	// says what, not where.
	return fmt.Errorf("database %s: %s: %s (SQLite code %d)", c.path, what, msg, rc)
}

// exec runs statements without results.
func (c *rawConn) exec(sql string) error {
	s, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, s)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, s, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.err(rc, sql)
	}
	return nil
}

// rawStmt is a prepared statement whose text values live in buf, C memory
// (SQLite reads it in place, and Go's checkptr rightly refuses C code
// reading Go memory), until the next exec.
type rawStmt struct {
	c      *rawConn
	p      uintptr
	sql    string
	buf    uintptr
	bufLen int
	bufCap int
}

func (c *rawConn) prepare(sql string) (*rawStmt, error) {
	s, err := libc.CString(sql)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, s)
	pp := c.tls.Alloc(8)
	defer c.tls.Free(8)
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, s, -1, pp, 0); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc, "prepare "+sql)
	}
	return &rawStmt{c: c, p: *(*uintptr)(cmem(pp)), sql: sql}, nil
}

func (s *rawStmt) close() {
	if s.p != 0 {
		sqlite3.Xsqlite3_finalize(s.c.tls, s.p)
		s.p = 0
	}
	if s.buf != 0 {
		libc.Xfree(s.c.tls, s.buf)
		s.buf, s.bufCap = 0, 0
	}
}

// reserve makes room for n bytes of text. It must be called with the
// total of an exec's texts before the first bindText: growing the buffer
// would move texts already bound.
func (s *rawStmt) reserve(n int) error {
	s.bufLen = 0
	if n <= s.bufCap {
		return nil
	}
	if s.buf != 0 {
		libc.Xfree(s.c.tls, s.buf)
		s.buf, s.bufCap = 0, 0
	}
	size := max(2*n, 4096)
	p := libc.Xmalloc(s.c.tls, types.Size_t(size))
	if p == 0 {
		return fmt.Errorf("bind: out of memory for %d bytes", size)
	}
	s.buf, s.bufCap = p, size
	return nil
}

func (s *rawStmt) bindInt64(i int, v int64) error {
	if rc := sqlite3.Xsqlite3_bind_int64(s.c.tls, s.p, int32(i), v); rc != sqlite3.SQLITE_OK {
		return s.c.err(rc, "bind")
	}
	return nil
}

// bindText binds v, or NULL when v is empty.
func (s *rawStmt) bindText(i int, v string) error {
	if v == "" {
		return s.bindNull(i)
	}
	if s.bufLen+len(v) > s.bufCap {
		return fmt.Errorf("bind: text buffer too small (reserve missed %d bytes)", s.bufLen+len(v)-s.bufCap)
	}
	p := s.buf + uintptr(s.bufLen)
	copy(unsafe.Slice((*byte)(cmem(p)), len(v)), v)
	s.bufLen += len(v)
	if rc := sqlite3.Xsqlite3_bind_text(s.c.tls, s.p, int32(i), p, int32(len(v)), 0); rc != sqlite3.SQLITE_OK {
		return s.c.err(rc, "bind")
	}
	return nil
}

func (s *rawStmt) bindNull(i int) error {
	if rc := sqlite3.Xsqlite3_bind_null(s.c.tls, s.p, int32(i)); rc != sqlite3.SQLITE_OK {
		return s.c.err(rc, "bind")
	}
	return nil
}

// bindAny binds the few types the batches row uses.
func (s *rawStmt) bindAny(i int, v any) error {
	switch x := v.(type) {
	case nil:
		return s.bindNull(i)
	case string:
		return s.bindText(i, x)
	case int64:
		return s.bindInt64(i, x)
	default:
		return fmt.Errorf("bind %T", v)
	}
}

// exec steps the statement once and resets it. Every parameter must be
// bound (NULL too) before each exec: bindings are kept, not cleared, as
// clearing hundreds of parameters per row costs more than binding them.
// The text buffer must stay alive until here.
func (s *rawStmt) exec() error {
	rc := sqlite3.Xsqlite3_step(s.c.tls, s.p)
	sqlite3.Xsqlite3_reset(s.c.tls, s.p)
	s.bufLen = 0
	if rc != sqlite3.SQLITE_DONE {
		return s.c.err(rc, s.sql)
	}
	return nil
}

// queryInt64 runs a statement that returns one integer.
func (c *rawConn) queryInt64(sql string) (int64, error) {
	s, err := c.prepare(sql)
	if err != nil {
		return 0, err
	}
	defer s.close()
	rc := sqlite3.Xsqlite3_step(c.tls, s.p)
	if rc != sqlite3.SQLITE_ROW {
		return 0, c.err(rc, sql)
	}
	return sqlite3.Xsqlite3_column_int64(c.tls, s.p, 0), nil
}

// step advances a query: true with a row, false at its end (the
// statement is then reset).
func (s *rawStmt) step() (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(s.c.tls, s.p); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		sqlite3.Xsqlite3_reset(s.c.tls, s.p)
		s.bufLen = 0
		return false, nil
	default:
		sqlite3.Xsqlite3_reset(s.c.tls, s.p)
		s.bufLen = 0
		return false, s.c.err(rc, s.sql)
	}
}

// done resets a query left before its end.
func (s *rawStmt) done() {
	sqlite3.Xsqlite3_reset(s.c.tls, s.p)
	s.bufLen = 0
}

func (s *rawStmt) colInt64(i int) int64 { return sqlite3.Xsqlite3_column_int64(s.c.tls, s.p, int32(i)) }

func (s *rawStmt) colNull(i int) bool {
	return sqlite3.Xsqlite3_column_type(s.c.tls, s.p, int32(i)) == sqlite3.SQLITE_NULL
}

// colText is a text column copied into Go memory; "" for NULL.
func (s *rawStmt) colText(i int) string {
	p := sqlite3.Xsqlite3_column_text(s.c.tls, s.p, int32(i))
	if p == 0 {
		return ""
	}
	n := sqlite3.Xsqlite3_column_bytes(s.c.tls, s.p, int32(i))
	return string(unsafe.Slice((*byte)(cmem(p)), n))
}

// colBytes is a text column in C memory, valid until the next step: for
// reading without copying.
func (s *rawStmt) colBytes(i int) []byte {
	p := sqlite3.Xsqlite3_column_text(s.c.tls, s.p, int32(i))
	if p == 0 {
		return nil
	}
	n := sqlite3.Xsqlite3_column_bytes(s.c.tls, s.p, int32(i))
	return unsafe.Slice((*byte)(cmem(p)), n)
}
