// Package acct is the RADIUS accounting server (RFC 2866) of the edge:
// it checks each Accounting-Request against its NAS's shared secret,
// writes it to the spool, and answers only once the record is durable.
// docs/listen.md describes it for operators.
package acct

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"layeh.com/radius"

	"roamsettle/pkg/config"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/stage"
)

const (
	// dedupWindow covers a NAS's whole retransmission schedule (RFC 2866
	// leaves it to the NAS; minutes at most in practice).
	dedupWindow = 15 * time.Minute
	dedupMax    = 1 << 20 // ~100 MB worst case; the oldest go first
	// maxGroup bounds one group commit; queueLen is how many checked
	// packets may wait for the writer before the reader blocks (and the
	// kernel's socket buffer takes over).
	maxGroup = 4096
	queueLen = 16384
	// readBuffer absorbs bursts while a group is being made durable.
	readBuffer = 4 << 20
	// Dropped packets are logged at most once per source per logEvery,
	// and at most logBudget lines per logEvery from all sources together.
	logEvery  = time.Minute
	logBudget = 10
	// checkpointEvery is how often the journaled records are written to
	// their session files, synced, and closed sessions moved to ready/;
	// it runs in the background, answers ride on the journal.
	checkpointEvery = time.Second
)

// counters are the run's counts; the reader and the writer both add.
type counters struct {
	received, written, answered, retransmissions atomic.Int64
	unknownClient, badAuth, notAccounting        atomic.Int64
	malformed, writeFailed, answerFailed         atomic.Int64
	sessionsClosed, sessionsSwept, spoolReopened atomic.Int64
	checkpointFailed, setAside                   atomic.Int64
}

func (c *counters) report(run *stage.Run) {
	for _, x := range []struct {
		name string
		v    *atomic.Int64
	}{
		{"received", &c.received},
		{"written", &c.written},
		{"answered", &c.answered},
		{"retransmissions", &c.retransmissions},
		{"dropped_unknown_client", &c.unknownClient},
		{"dropped_bad_authenticator", &c.badAuth},
		{"dropped_not_accounting", &c.notAccounting},
		{"dropped_malformed", &c.malformed},
		{"unanswered_write_failed", &c.writeFailed},
		{"answer_errors", &c.answerFailed},
		{"sessions_closed", &c.sessionsClosed},
		{"sessions_swept", &c.sessionsSwept},
		{"spool_reopened", &c.spoolReopened},
		{"checkpoint_errors", &c.checkpointFailed},
		{"set_aside", &c.setAside},
	} {
		run.Add(x.name, x.v.Load())
	}
}

// request is a checked Accounting-Request waiting for the writer.
type request struct {
	rec  spool.Record
	key  packetKey
	resp []byte // the encoded Accounting-Response
	to   netip.AddrPort
}

// sender sends a datagram; *net.UDPConn is one.
type sender interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// server holds the listener's state. The reader goroutine runs receive,
// the writer goroutine runs commit and sweep and alone touches st.
type server struct {
	edge    *config.Edge
	log     *slog.Logger
	layout  spool.Layout
	clients map[netip.Addr]*config.NAS
	local   string
	out     sender
	conn    *net.UDPConn // nil in tests of the packet path
	seen    *dedup
	drops   *limiter // log lines about dropped packets, per source and in all
	errs    *limiter // log lines about failed writes and sends
	n       counters
	st      *spool.Store // nil after a failed reopen; writer only
}

func newServer(edge *config.Edge, log *slog.Logger, out sender) *server {
	s := &server{
		edge:    edge,
		log:     log,
		layout:  spool.Layout{Root: edge.Spool},
		clients: make(map[netip.Addr]*config.NAS, len(edge.NAS)),
		local:   edge.ISP + " " + edge.Listen,
		out:     out,
		seen:    newDedup(dedupWindow, dedupMax),
		drops:   newLimiter(logEvery, logBudget),
		errs:    newLimiter(10*time.Second, logBudget),
	}
	for i := range edge.NAS {
		s.clients[edge.NAS[i].Address.Unmap().WithZone("")] = &edge.NAS[i]
	}
	return s
}

// Serve runs the accounting listener on edge.Listen until ctx ends, then
// finishes the records already accepted (written and answered) and
// returns nil.
//
// What the spool cannot use (a damaged file in open/, an unreadable
// journal segment) is set aside and reported, never a reason not to
// start; the run then ends with *stage.AttentionError (exit 3).
func Serve(ctx context.Context, run *stage.Run, edge *config.Edge) error {
	s, err := listen(edge, run.Log)
	if err != nil {
		return err
	}
	defer s.n.report(run)
	if err := s.serve(ctx); err != nil {
		return err
	}
	return stage.Attention(s.n.setAside.Load(), "%d spool item(s) could not be used and were set aside or left in place (see the log and %s); everything else was served",
		s.n.setAside.Load(), s.layout.Bad())
}

// listen binds edge.Listen, opens the spool and logs the start.
func listen(edge *config.Edge, log *slog.Logger) (*server, error) {
	conn, err := net.ListenPacket("udp", edge.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	udp, ok := conn.(*net.UDPConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("listen %s: not a UDP socket", edge.Listen)
	}
	if err := udp.SetReadBuffer(readBuffer); err != nil {
		log.Warn("cannot enlarge the socket receive buffer", "err", err)
	}
	s := newServer(edge, log, udp)
	s.conn = udp
	if err := s.open(time.Now()); err != nil {
		udp.Close()
		return nil, err
	}
	log.Info("listening for RADIUS accounting", "address", udp.LocalAddr().String(),
		"nas", len(edge.NAS), "open_sessions", s.st.OpenCount(), "known_requests", s.seen.len(),
		"spool", edge.Spool, "stale_after", edge.StaleAfter.String(), "sweep_every", edge.SweepEvery.String())
	return s, nil
}

// serve reads and writes until ctx ends, then drains and closes.
func (s *server) serve(ctx context.Context) error {
	defer s.conn.Close()
	queue := make(chan *request, queueLen)
	// The sender answers a durable group while the writer already
	// commits the next one.
	out := make(chan *replies, 4)
	written, sent := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(written)
		defer close(out)
		s.writeLoop(queue, out)
	}()
	go func() {
		defer close(sent)
		for a := range out {
			s.send(a)
		}
	}()
	// Unblock the read at shutdown; the socket stays open for the answers
	// of the requests still being written.
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	readErr := s.readLoop(ctx, s.conn, queue)
	close(queue)
	<-written
	<-sent
	if readErr == nil {
		s.log.Info("stopped: every accepted request is written and answered")
	}
	return readErr
}

// open opens the Store and seeds the retransmission cache from disk.
func (s *server) open(now time.Time) error {
	st, err := s.openStore()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.st = st
	if _, err := s.seen.seed(s.layout, now); err != nil {
		return fmt.Errorf("listen: reading recent requests from the spool: %w", err)
	}
	return nil
}

func (s *server) readLoop(ctx context.Context, conn *net.UDPConn, queue chan<- *request) error {
	// One byte more than a RADIUS packet may have, to see oversized ones.
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, src, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return fmt.Errorf("listen: read: %w", err)
		}
		if r := s.receive(buf[:n], src, time.Now()); r != nil {
			queue <- r
		}
	}
}

// receive checks one datagram. It returns the request to write, or nil
// when the packet was dropped or was a retransmission (answered now if its
// first copy is durable, else by the writer once it is).
func (s *server) receive(b []byte, src netip.AddrPort, now time.Time) *request {
	s.n.received.Add(1)
	addr := src.Addr().Unmap().WithZone("")
	nas, ok := s.clients[addr]
	if !ok {
		s.drop(&s.n.unknownClient, src, b, now, "unknown client")
		return nil
	}
	if len(b) < 20 {
		s.drop(&s.n.malformed, src, b, now, "malformed: shorter than a RADIUS header", "nas", nas.Name, "bytes", len(b))
		return nil
	}
	if radius.Code(b[0]) != radius.CodeAccountingRequest {
		s.drop(&s.n.notAccounting, src, b, now, "not an Accounting-Request", "nas", nas.Name, "code", radius.Code(b[0]).String())
		return nil
	}
	// Octets beyond the Length field are padding (RFC 2865 §3) and not
	// covered by the authenticator.
	if l := int(b[2])<<8 | int(b[3]); l >= 20 && l <= len(b) && l <= radius.MaxPacketLength {
		b = b[:l]
	} else {
		s.drop(&s.n.malformed, src, b, now, "malformed: bad Length field", "nas", nas.Name, "length", l, "bytes", len(b))
		return nil
	}
	if !radius.IsAuthenticRequest(b, nas.Secret) {
		s.drop(&s.n.badAuth, src, b, now, "bad Request Authenticator (wrong shared secret?)", "nas", nas.Name)
		return nil
	}
	p, err := radius.Parse(b, nas.Secret)
	if err != nil {
		s.drop(&s.n.malformed, src, b, now, "malformed: "+err.Error()+badAttribute(b), "nas", nas.Name)
		return nil
	}
	from := netip.AddrPortFrom(addr, src.Port()) // IPv4 as IPv4 on a dual-stack socket
	rec, err := toRecord(p, origin{NAS: nas.Name, Source: from.String(), TimeZone: s.edge.Timezone,
		Local: s.local, Received: now})
	if err != nil {
		s.drop(&s.n.malformed, src, b, now, err.Error(), "nas", nas.Name)
		return nil
	}
	resp, err := p.Response(radius.CodeAccountingResponse).Encode()
	if err != nil { // cannot happen for an empty response; never answer blindly
		s.drop(&s.n.malformed, src, b, now, "cannot encode the response: "+err.Error(), "nas", nas.Name)
		return nil
	}
	key := packetKey{src: from, id: p.Identifier, auth: p.Authenticator}
	switch s.seen.claim(key, now) {
	case claimDurable:
		s.n.retransmissions.Add(1)
		s.answer(resp, src)
		return nil
	case claimPending:
		s.n.retransmissions.Add(1)
		return nil
	}
	return &request{rec: rec, key: key, resp: resp, to: src}
}

// drop counts a dropped datagram and logs it (within the log's limits)
// with what names the packet: source address and port and, when it has
// a header, its Identifier.
func (s *server) drop(c *atomic.Int64, from netip.AddrPort, b []byte, now time.Time, reason string, attrs ...any) {
	c.Add(1)
	src := from.Addr().Unmap().WithZone("")
	v := s.drops.allow(src.String(), now)
	if !v.ok {
		return
	}
	packet := []any{"source", src.String(), "port", from.Port()}
	if len(b) >= 2 {
		packet = append(packet, "id", int(b[1]))
	}
	attrs = append(append(packet, "suppressed_since_last", v.held), attrs...)
	if v.others > 0 {
		attrs = append(attrs, "suppressed_other_sources", v.others)
	}
	s.log.Warn("dropped packet, not answered: "+reason, attrs...)
	if v.last {
		s.log.Warn(fmt.Sprintf("%d dropped packets logged in %v from all sources; further drops are counted, not logged, for the rest of it",
			logBudget, logEvery), "budget", logBudget)
	}
}

// badAttribute says which attribute of an authentic packet does not
// parse and why, for the log: the parser's own error names neither.
func badAttribute(b []byte) string {
	for i := 20; i < len(b); {
		if len(b)-i < 2 {
			return fmt.Sprintf(" (a lone octet at offset %d where an attribute header belongs)", i)
		}
		t, l := b[i], int(b[i+1])
		if l < 2 {
			return fmt.Sprintf(" (attribute %d at offset %d has length %d)", t, i, l)
		}
		if i+l > len(b) {
			return fmt.Sprintf(" (attribute %d at offset %d has length %d, but only %d octets remain in the packet's %d)", t, i, l, len(b)-i, len(b))
		}
		i += l
	}
	return ""
}

func (s *server) answer(resp []byte, to netip.AddrPort) {
	if _, err := s.out.WriteToUDPAddrPort(resp, to); err != nil {
		s.n.answerFailed.Add(1)
		if v := s.errs.allow("answer", time.Now()); v.ok {
			s.log.Warn("cannot send Accounting-Response", "to", to.String(), "err", err, "suppressed_since_last", v.held)
		}
		return
	}
	s.n.answered.Add(1)
}

// writeLoop is the writer: it takes every request waiting, commits them
// as one group, and sweeps stale sessions between groups.
func (s *server) writeLoop(queue <-chan *request, out chan<- *replies) {
	tick := time.NewTicker(s.edge.SweepEvery)
	defer tick.Stop()
	cp := time.NewTicker(checkpointEvery)
	defer cp.Stop()
	for {
		select {
		case r, ok := <-queue:
			if !ok {
				s.closeStore()
				return
			}
			group := append(make([]*request, 0, len(queue)+1), r)
		more:
			for len(group) < maxGroup {
				select {
				case r, ok := <-queue:
					if !ok {
						break more
					}
					group = append(group, r)
				default:
					break more
				}
			}
			if a := s.commit(group); a != nil {
				out <- a
			}
		case now := <-tick.C:
			s.sweep(now)
		case <-cp.C:
			s.checkpoint()
		}
	}
}

// checkpoint syncs the session files and moves closed sessions to ready/.
func (s *server) checkpoint() {
	if s.st == nil {
		return
	}
	if err := s.st.Checkpoint(); err != nil {
		s.st = nil // reopening recovers from the journal
		s.n.checkpointFailed.Add(1)
		if v := s.errs.allow("checkpoint", time.Now()); v.ok {
			s.log.Error("spool checkpoint failed; the spool will be reopened", "err", err, "suppressed_since_last", v.held)
		}
	}
}

// closeStore ends the Store with a last checkpoint at shutdown.
func (s *server) closeStore() {
	if s.st == nil {
		return
	}
	if err := s.st.Close(); err != nil {
		s.log.Error("last spool checkpoint failed; the next start recovers from the journal", "err", err)
	}
	s.st = nil
}

// commit makes a group durable with one Store.Add, then answers it. After
// a failed write nothing of the group is answered (the NASes retransmit)
// and the Store is reopened from disk, as its contract asks.
func (s *server) commit(group []*request) *replies {
	keys := make([]packetKey, len(group))
	recs := make([]spool.Record, len(group))
	for i, r := range group {
		keys[i], recs[i] = r.key, r.rec
	}
	extra := make([]int, len(group))
	if err := s.add(recs); err != nil {
		s.seen.settle(keys, false, nil)
		s.n.writeFailed.Add(int64(len(group)))
		if v := s.errs.allow("write", time.Now()); v.ok {
			s.log.Error("spool write failed; the group is not answered and the NAS will retransmit",
				"records", len(group), "err", err, "suppressed_since_last", v.held)
		}
		return nil
	}
	s.n.written.Add(int64(len(group)))
	s.seen.settle(keys, true, extra)
	return &replies{group: group, extra: extra}
}

// replies are the Accounting-Responses of a durable group: one per
// request plus one per copy that arrived while it was being written.
type replies struct {
	group []*request
	extra []int
}

func (s *server) send(a *replies) {
	for i, r := range a.group {
		for range 1 + a.extra[i] {
			s.answer(r.resp, r.to)
		}
	}
}

// add writes records with the Store, reopening it first when an earlier
// error left it unusable.
func (s *server) add(recs []spool.Record) error {
	if err := s.ensureStore(); err != nil {
		return err
	}
	before := s.st.Closed()
	if err := s.st.Add(recs); err != nil {
		s.st = nil
		return err
	}
	s.n.sessionsClosed.Add(int64(s.st.Closed() - before))
	return nil
}

func (s *server) ensureStore() error {
	if s.st != nil {
		return nil
	}
	st, err := s.openStore()
	if err != nil {
		return fmt.Errorf("reopening the spool: %w", err)
	}
	s.st = st
	s.n.spoolReopened.Add(1)
	// The failed group's identities were forgotten; what the journal
	// recovery wrote of it must still not be written twice.
	if _, err := s.seen.seed(s.layout, time.Now()); err != nil {
		s.log.Warn("cannot re-read recent requests from the spool", "err", err)
	}
	s.log.Info("spool reopened from disk", "open_sessions", st.OpenCount())
	return nil
}

// openStore opens the Store (recovering a journal left by a crash) in
// journal mode: one fsync per group however many files it touches.
func (s *server) openStore() (*spool.Store, error) {
	st, err := spool.OpenStore(s.layout)
	if err != nil {
		return nil, err
	}
	aside := st.Aside()
	spool.LogAside(s.log, aside)
	s.n.setAside.Add(int64(len(aside)))
	if err := st.UseJournal(); err != nil {
		return nil, err
	}
	return st, nil
}

// sweep closes sessions with no record received for StaleAfter.
func (s *server) sweep(now time.Time) {
	err := s.ensureStore()
	if err == nil {
		var n int
		n, err = s.st.Sweep(now, s.edge.StaleAfter)
		s.n.sessionsSwept.Add(int64(n))
		s.n.sessionsClosed.Add(int64(n))
		if err == nil {
			if n > 0 {
				s.log.Info("closed stale sessions", "closed", n, "stale_after", s.edge.StaleAfter.String(), "open_sessions", s.st.OpenCount())
			}
			return
		}
		s.st = nil
	}
	s.log.Error("sweep failed; will retry", "err", err)
}
