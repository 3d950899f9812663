package acct

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"roamsettle/pkg/spool"
)

// packetKey is a request's identity for retransmission detection (RFC
// 2866 §4.1: a retransmission keeps the Identifier and authenticator).
type packetKey struct {
	src  netip.AddrPort // address unmapped, no zone
	id   byte
	auth [16]byte
}

// claim is what the cache says about a request.
type claim int

const (
	claimNew     claim = iota // first copy: write it
	claimPending              // first copy not durable yet: answer when it is
	claimDurable              // first copy on disk: answer now
)

type seenEntry struct {
	key     packetKey
	at      time.Time
	durable bool
	extra   int // copies received while pending, each owed an answer
}

// dedup is the bounded cache of recent request identities. The reader
// claims, the writer settles; hence the mutex.
type dedup struct {
	mu     sync.Mutex
	m      map[packetKey]*seenEntry
	fifo   []*seenEntry // insertion order, for expiry; live from head on
	head   int
	window time.Duration
	max    int
}

func newDedup(window time.Duration, max int) *dedup {
	return &dedup{m: map[packetKey]*seenEntry{}, window: window, max: max}
}

// claim records a request seen at now and says how to treat it.
func (d *dedup) claim(k packetKey, now time.Time) claim {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if e, ok := d.m[k]; ok {
		if e.durable {
			return claimDurable
		}
		e.extra++
		return claimPending
	}
	d.insert(&seenEntry{key: k, at: now})
	return claimNew
}

func (d *dedup) insert(e *seenEntry) {
	d.m[e.key] = e
	d.fifo = append(d.fifo, e)
}

// settle ends the pending claims of a group: on success they become
// durable and extra[i] is how many more answers request i is owed; on
// failure they are forgotten so the NAS's next retransmission is written.
func (d *dedup) settle(keys []packetKey, ok bool, extra []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, k := range keys {
		e := d.m[k]
		if e == nil || e.durable {
			continue
		}
		if ok {
			e.durable = true
			extra[i] = e.extra
		} else {
			delete(d.m, k)
		}
	}
}

// expire drops entries older than the window, and the oldest ones when
// over the bound. Entries forgotten by settle stay in fifo until they
// reach the front; a pending entry stops expiry until its group settles.
func (d *dedup) expire(now time.Time) {
	i := d.head
	for ; i < len(d.fifo); i++ {
		e := d.fifo[i]
		live := d.m[e.key] == e
		if live && (!e.durable || now.Sub(e.at) <= d.window && len(d.m) <= d.max) {
			break
		}
		if live {
			delete(d.m, e.key)
		}
	}
	clear(d.fifo[d.head:i])
	d.head = i
	if d.head > 1024 && d.head > len(d.fifo)/2 { // compact now and then, not per call
		n := copy(d.fifo, d.fifo[d.head:])
		clear(d.fifo[n:])
		d.fifo, d.head = d.fifo[:n], 0
	}
}

// len is the number of identities held.
func (d *dedup) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// seed fills the cache from records already on disk: every record of
// open/ and of ready/ files changed within the window (a Stop closes its
// file at once, and its retransmission must still not be written twice).
// Records from detail imports carry no packet identity and are skipped.
func (d *dedup) seed(l spool.Layout, now time.Time) (int, error) {
	var recs []spool.Record
	for _, dir := range []string{l.Open(), l.Ready()} {
		if dir == l.Ready() {
			// A push settling a batch swaps ready/ for an empty folder and
			// moves back the files that are not in its batch, all under the
			// ready lock: hold it so none is missed while it is away.
			unlock, err := l.LockReady()
			if err != nil {
				return 0, err
			}
			defer unlock()
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return 0, err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), spool.FileExt) || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if dir == l.Ready() {
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // pushed meanwhile
				}
				if err != nil {
					return 0, err
				}
				if now.Sub(fi.ModTime()) > d.window {
					continue
				}
			}
			// A file that cannot be read back whole gives what it can:
			// the spool sets damaged files aside and reports them, and a
			// missing request only costs a possible second copy, which
			// roamclean recognises as a duplicate.
			rs, _ := spool.ReadFile(filepath.Join(dir, e.Name()))
			recs = append(recs, rs...)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Received.Before(recs[j].Received) })
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i := range recs {
		r := &recs[i]
		if now.Sub(r.Received) > d.window {
			continue
		}
		k, ok := recordKey(r)
		if !ok {
			continue
		}
		if _, dup := d.m[k]; !dup {
			d.insert(&seenEntry{key: k, at: r.Received, durable: true})
			n++
		}
	}
	d.expire(now)
	return n, nil
}

// recordKey rebuilds a written record's packet identity.
func recordKey(r *spool.Record) (packetKey, bool) {
	var k packetKey
	ap, err := netip.ParseAddrPort(r.Source)
	if err != nil || r.PacketID < 0 || r.PacketID > 255 {
		return k, false
	}
	auth, err := hex.DecodeString(r.Authenticator)
	if err != nil || len(auth) != len(k.auth) {
		return k, false
	}
	k.src = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	k.id = byte(r.PacketID)
	copy(k.auth[:], auth)
	return k, true
}
