package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/spool"
)

// chunkRows is how many rows travel to the writer at once: large enough
// to make the hand-over cheap, small enough to keep memory flat.
const chunkRows = 512

// Rows are inserted one per INSERT on purpose: a multi-row INSERT may fail
// half-way, so SQLite keeps a statement journal for it, a copy of every
// page it touches; that costs more than the statement steps it saves.

type chunk struct {
	recs    []pending
	members []batch.Member
	rows    []Row // the writer's scratch space
}

// pending is a record waiting for the writer, with its ids and lineage.
type pending struct {
	rec                 spool.Record
	entry, member, line int64
}

// BatchTx loads one batch in one transaction. Records are turned into rows
// by the caller's goroutine while a writer goroutine inserts the previous
// chunk, so reading and verifying the batch overlaps with SQLite's work.
// Nothing is visible to others before Commit; Rollback (or a crash)
// leaves no trace.
type BatchTx struct {
	c          *rawConn
	batchID    int64
	memberBase int64 // member_id = memberBase + position in the manifest
	nextEntry  int64
	firstEntry int64
	zones      Zones

	lastMember  int // Index of the member of the last record
	membersSeen int64

	cur  *chunk
	work chan *chunk
	free chan *chunk
	wg   sync.WaitGroup
	mu   sync.Mutex
	werr error // the writer's first error
	// problemCount rows held a value they cannot hold, the first of
	// which are in problems; under mu.
	problemCount int64
	problems     []Problem
	ended        bool
	done         bool
}

// BatchInfo is what the batches table records about a batch.
type BatchInfo struct {
	Manifest       *batch.Manifest
	ManifestFile   string
	ManifestSHA256 string
}

// rawPragmas are the connection settings of the load connection; see
// pragmas for why synchronous is FULL.
const rawPragmas = "PRAGMA busy_timeout = 30000; PRAGMA synchronous = FULL; PRAGMA cache_size = -4096; PRAGMA foreign_keys = OFF"

// BeginBatch starts loading a batch: it records it in the batches table
// and returns the transaction that takes its records.
func (d *DB) BeginBatch(ctx context.Context, info BatchInfo) (*BatchTx, error) {
	m := info.Manifest
	name := batch.Name(m.Sender, m.Sequence)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := openRaw(d.Path)
	if err != nil {
		return nil, fmt.Errorf("batch %s: %w", name, err)
	}
	t := &BatchTx{c: c, zones: Zones{}}
	var stmts []*rawStmt
	fail := func(err error) (*BatchTx, error) {
		for _, s := range stmts {
			s.close()
		}
		c.exec("ROLLBACK")
		c.close()
		return nil, fmt.Errorf("batch %s: %w", name, err)
	}
	if err := c.exec(rawPragmas); err != nil {
		return fail(err)
	}
	if err := c.exec("BEGIN IMMEDIATE"); err != nil {
		return fail(err)
	}
	// The ids are ours to give: we hold the write lock, so entry ids of a
	// batch are one unbroken range, recorded in its batches row.
	if t.nextEntry, err = c.queryInt64("SELECT coalesce(max(entry_id), 0) + 1 FROM raw_data"); err != nil {
		return fail(err)
	}
	if t.memberBase, err = c.queryInt64("SELECT coalesce(max(member_id), 0) FROM members"); err != nil {
		return fail(err)
	}
	if t.batchID, err = c.queryInt64("SELECT coalesce(max(batch_id), 0) + 1 FROM batches"); err != nil {
		return fail(err)
	}
	t.firstEntry = t.nextEntry
	var first, last, fe, le any
	if m.Totals.Records > 0 {
		first, last = FormatTime(m.Totals.FirstEvent), FormatTime(m.Totals.LastEvent)
		fe, le = t.firstEntry, t.firstEntry+m.Totals.Records-1
	}
	ins, err := c.prepare(`INSERT INTO batches (batch_id, sender, sequence, manifest_file, manifest_sha256, data_file,
	data_size, data_sha256, files, records, session_time_sum, first_event, last_event, created, loaded_at,
	first_entry_id, last_entry_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fail(err)
	}
	defer ins.close()
	vals := []any{t.batchID, m.Sender, int64(m.Sequence), info.ManifestFile, info.ManifestSHA256, m.DataFile, m.DataSize, m.DataSHA256,
		m.Totals.Files, m.Totals.Records, m.Totals.SessionTime, first, last, FormatTime(m.Created), FormatTime(time.Now()), fe, le}
	if err := ins.reserve(1024 + len(m.Sender) + len(info.ManifestFile) + len(m.DataFile)); err != nil {
		return fail(err)
	}
	for i, v := range vals {
		if err := ins.bindAny(i+1, v); err != nil {
			return fail(err)
		}
	}
	if err := ins.exec(); err != nil {
		return fail(err)
	}
	insRaw, err := c.prepare(insertSQL("raw_data", RawColumns))
	if err != nil {
		return fail(err)
	}
	stmts = append(stmts, insRaw)
	insMember, err := c.prepare(insertSQL("members",
		[]string{"member_id", "batch_id", "position", "name", "sha256", "size", "records"}))
	if err != nil {
		return fail(err)
	}
	t.work = make(chan *chunk, 2)
	t.free = make(chan *chunk, 4)
	for i := 0; i < 4; i++ {
		t.free <- &chunk{recs: make([]pending, 0, chunkRows), rows: make([]Row, 0, chunkRows)}
	}
	t.cur = <-t.free
	t.wg.Add(1)
	go t.writer(insRaw, insMember)
	return t, nil
}

func insertSQL(table string, cols []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
}

// writer inserts chunks until the work channel closes. After an error it
// keeps draining so the producer never blocks; the error is reported by
// the next Add and by Commit.
func (t *BatchTx) writer(insRaw, insMember *rawStmt) {
	defer t.wg.Done()
	defer insRaw.close()
	defer insMember.close()
	var err error
	for c := range t.work {
		for i := range c.members {
			if err != nil {
				break
			}
			mb := &c.members[i]
			err = insMember.reserve(len(mb.Name) + len(mb.SHA256))
			for j, v := range []any{t.memberBase + int64(mb.Index), t.batchID, int64(mb.Index), mb.Name, mb.SHA256, mb.Size, mb.Records} {
				if err == nil {
					err = insMember.bindAny(j+1, v)
				}
			}
			if err == nil {
				err = insMember.exec()
			}
		}
		c.rows = c.rows[:0]
		for i := range c.recs {
			p := &c.recs[i]
			c.rows = append(c.rows, Row{})
			r := &c.rows[i]
			r.Fill(&p.rec, t.zones)
			r.EntryID, r.BatchID, r.MemberID, r.Line = p.entry, t.batchID, p.member, p.line
			if r.Problem != "" {
				t.mu.Lock()
				if t.problemCount++; len(t.problems) < maxProblems {
					t.problems = append(t.problems, Problem{EntryID: r.EntryID, Member: p.member, Line: p.line, Text: r.Problem})
				}
				t.mu.Unlock()
			}
		}
		for i := 0; err == nil && i < len(c.rows); i++ {
			if err = insRaw.reserve(c.rows[i].textLen()); err == nil {
				err = c.rows[i].bind(insRaw, 0)
			}
			if err == nil {
				err = insRaw.exec()
			}
		}
		if err != nil {
			err = fmt.Errorf("batch %d: %w", t.batchID, err)
			t.mu.Lock()
			if t.werr == nil {
				t.werr = err
			}
			t.mu.Unlock()
		}
		clear(c.recs) // drop the strings they hold
		c.recs, c.rows, c.members = c.recs[:0], c.rows[:0], c.members[:0]
		t.free <- c
	}
}

// Problem is a record loaded with a value its row cannot hold.
type Problem struct {
	EntryID, Member, Line int64
	Text                  string
}

// maxProblems bounds the problems a BatchTx keeps for messages; the
// rows themselves all say theirs.
const maxProblems = 10

// Problems returns how many records of the batch were loaded with a
// problem recorded on their row, and the first few of them; complete
// after Commit.
func (t *BatchTx) Problems() (int64, []Problem) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.problemCount, t.problems
}

func (t *BatchTx) writerErr() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.werr
}

func (t *BatchTx) send() {
	t.work <- t.cur
	t.cur = <-t.free
}

// AddRecord queues one record with its lineage: its member file and line.
// The writer turns it into a row, so that work runs beside the reading.
// An error is the database's: a value the row cannot hold is recorded on
// the row (Problems), never refused.
func (t *BatchTx) AddRecord(mb *batch.Member, line int, rec *spool.Record) error {
	if err := t.writerErr(); err != nil {
		return err
	}
	if mb.Index != t.lastMember {
		// A member's row goes with its first record; members without
		// records are added by the caller (AddMember).
		t.lastMember = mb.Index
		t.membersSeen++
		t.cur.members = append(t.cur.members, *mb)
	}
	t.cur.recs = append(t.cur.recs, pending{rec: *rec, entry: t.nextEntry, member: t.memberBase + int64(mb.Index), line: int64(line)})
	t.nextEntry++
	if len(t.cur.recs) == chunkRows {
		t.send()
	}
	return nil
}

// MembersSeen is the number of members AddRecord has recorded: those
// with at least one record.
func (t *BatchTx) MembersSeen() int64 { return t.membersSeen }

// AddMember queues the row of a member without records, so that members
// lists the whole batch.
func (t *BatchTx) AddMember(mb batch.Member) error {
	if err := t.writerErr(); err != nil {
		return err
	}
	t.cur.members = append(t.cur.members, mb)
	if len(t.cur.members) == chunkRows {
		t.send()
	}
	return nil
}

// Records is the number of records added so far.
func (t *BatchTx) Records() int64 { return t.nextEntry - t.firstEntry }

// BatchID is the batch's id in the batches table.
func (t *BatchTx) BatchID() int64 { return t.batchID }

func (t *BatchTx) end() error {
	if t.ended {
		return t.writerErr()
	}
	t.ended = true
	if len(t.cur.recs) > 0 || len(t.cur.members) > 0 {
		t.work <- t.cur
	}
	close(t.work)
	t.wg.Wait()
	return t.writerErr()
}

// Commit waits for the writer and commits. With synchronous=FULL the
// batch is on disk when Commit returns, so its files may then be moved.
func (t *BatchTx) Commit() error {
	if t.done {
		return fmt.Errorf("commit: transaction already ended")
	}
	if err := t.end(); err != nil {
		t.Rollback()
		return fmt.Errorf("insert: %w", err)
	}
	t.done = true
	defer t.c.close()
	if err := t.c.exec("COMMIT"); err != nil {
		t.c.exec("ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Rollback abandons the batch; nothing of it stays. It may be called
// after Commit, to no effect.
func (t *BatchTx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	t.end()
	defer t.c.close()
	return t.c.exec("ROLLBACK")
}
