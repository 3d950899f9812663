package sim

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"

	"roamsettle/pkg/detail"
	"roamsettle/pkg/radattr"
)

// SendOptions say where Send sends and how.
type SendOptions struct {
	Addr     string        // host:port of the accounting server
	Secret   []byte        // the RADIUS shared secret
	Parallel int           // requests in flight at once (like radclient -p); 0: 1
	Timeout  time.Duration // per request, retransmissions included; 0: 5 s
	Retry    time.Duration // retransmit after this long without an answer; 0: 1 s
}

// SendStats describe a Send.
type SendStats struct {
	Sent, Answered int64
}

// Send is a NAS built in, for machines without radclient: it reads
// radclient input (what Write makes with Radclient: "Name = value" lines,
// requests separated by blank lines), sends each as an Accounting-Request
// and waits for its Accounting-Response, retransmitting like radclient.
//
// Like radclient, it sends the requests in the input's order, up to
// Parallel unanswered at once, so a listener sees them in that order (its
// sessions, and the demo's reports, are the same as radclient's and the
// same every run). Like a NAS, it sends a session's next request (same
// Acct-Session-Id and NAS) only once the one before is answered or given
// up on, so a lost Start is not overtaken by its Stop.
//
// A request never answered is counted, not fatal: the run goes on and the
// error at the end says how many. But when a request goes unanswered
// before any was answered, nothing will be (a wrong secret, a NAS the
// server does not know, nothing listening): Send stops there, after one
// Timeout, instead of waiting out every request.
func Send(ctx context.Context, r io.Reader, o SendOptions) (SendStats, error) {
	if o.Parallel < 1 {
		o.Parallel = 1
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retry == 0 {
		o.Retry = time.Second
	}
	ctx, giveUp := context.WithCancelCause(ctx)
	defer giveUp(nil)
	var (
		st      SendStats
		mu      sync.Mutex
		failed  int64
		lastErr error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, o.Parallel)
		pending = map[uint32]chan struct{}{} // a session's request in flight
	)
	finish := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			st.Answered++
			return
		}
		if ctx.Err() != nil {
			return
		}
		failed++
		lastErr = err
		if st.Answered == 0 {
			giveUp(fmt.Errorf("no answer from %s to any request yet (%d sent; last: %w): a wrong secret, a NAS address the server does not know, or nothing listening there", o.Addr, st.Sent, err))
		}
	}
	parseErr := readRequests(r, func(attrs []attr, line int) error {
		p, err := encode(attrs, o.Secret)
		if err != nil {
			return fmt.Errorf("request ending on line %d: %w", line, err)
		}
		key := sessionOf(attrs)
		mu.Lock()
		before := pending[key]
		mu.Unlock()
		if before != nil {
			select {
			case <-before:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		wait, err := transmit(ctx, p, o)
		mu.Lock()
		st.Sent++
		mu.Unlock()
		if err != nil {
			<-slots
			finish(err)
			return nil
		}
		done := make(chan struct{})
		mu.Lock()
		pending[key] = done
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := wait()
			mu.Lock()
			if pending[key] == done {
				delete(pending, key)
			}
			mu.Unlock()
			close(done)
			<-slots
			finish(err)
		}()
		return nil
	})
	wg.Wait()
	if parseErr != nil {
		return st, parseErr
	}
	if err := context.Cause(ctx); err != nil {
		return st, err
	}
	if st.Answered < st.Sent {
		return st, fmt.Errorf("%d of %d requests to %s unanswered (last: %w)", st.Sent-st.Answered, st.Sent, o.Addr, lastErr)
	}
	return st, nil
}

// transmit sends p once, now, and returns what waits for its answer,
// retransmitting every o.Retry until o.Timeout.
func transmit(ctx context.Context, p *radius.Packet, o SendOptions) (wait func() error, err error) {
	wire, err := p.Encode()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", o.Addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(wire); err != nil {
		conn.Close()
		return nil, err
	}
	return func() error {
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
		defer stop()
		deadline := time.Now().Add(o.Timeout)
		buf := make([]byte, radius.MaxPacketLength)
		for {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			next := time.Now().Add(o.Retry)
			if next.After(deadline) {
				next = deadline
			}
			conn.SetReadDeadline(next)
			n, err := conn.Read(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() && ctx.Err() == nil {
					if !time.Now().Before(deadline) {
						return fmt.Errorf("no answer within %v", o.Timeout)
					}
					conn.Write(wire)
					continue
				}
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				return err
			}
			resp, err := radius.Parse(buf[:n], p.Secret)
			if err != nil || !radius.IsAuthenticResponse(buf[:n], wire, p.Secret) {
				continue // not an answer to this request: a wrong secret, another request's
			}
			if resp.Code != radius.CodeAccountingResponse {
				return fmt.Errorf("answered with %v, not Accounting-Response", resp.Code)
			}
			return nil
		}
	}, nil
}

// sessionOf hashes what names a request's session at the NAS.
func sessionOf(attrs []attr) uint32 {
	h := fnv.New32a()
	for _, a := range attrs {
		switch a.name {
		case "Acct-Session-Id", "NAS-Identifier", "NAS-IP-Address", "NAS-IPv6-Address":
			h.Write([]byte(a.name + "=" + a.value + "\n"))
		}
	}
	return h.Sum32()
}

type attr struct{ name, value string }

// readRequests calls fn with each request's attributes and the line its
// last attribute is on.
func readRequests(r io.Reader, fn func([]attr, int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	var (
		cur  []attr
		line int
	)
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			if len(cur) > 0 {
				if err := fn(cur, line-1); err != nil {
					return err
				}
				cur = cur[:0]
			}
			continue
		}
		name, value, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("line %d: want Name = value, got %q", line, l)
		}
		cur = append(cur, attr{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(cur) > 0 {
		return fn(cur, line)
	}
	return nil
}

// encode makes an Accounting-Request of attributes the edge's table knows
// (radattr), encoded by their kind.
func encode(attrs []attr, secret []byte) (*radius.Packet, error) {
	p := radius.New(radius.CodeAccountingRequest, secret)
	for _, a := range attrs {
		id, ok := radattr.ByName(a.name)
		if !ok || id.Attr().Number == 0 {
			return nil, fmt.Errorf("%s: not an attribute this NAS sends", a.name)
		}
		def := id.Attr()
		var b []byte
		switch def.Kind {
		case radattr.String:
			v := a.value
			if strings.HasPrefix(v, `"`) {
				var err error
				if v, err = detail.Unquote(v); err != nil {
					return nil, fmt.Errorf("%s: %w", a.name, err)
				}
			}
			if len(v) > 253 {
				return nil, fmt.Errorf("%s: %d bytes, at most 253 fit in an attribute", a.name, len(v))
			}
			b = []byte(v)
		case radattr.Integer, radattr.Date, radattr.Enum:
			n, err := strconv.ParseUint(a.value, 10, 32)
			if err != nil && def.Kind == radattr.Enum {
				v, ok := def.EnumValue(a.value)
				if !ok {
					return nil, fmt.Errorf("%s: unknown value %q", a.name, a.value)
				}
				n, err = uint64(v), nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %q is no 32-bit number", a.name, a.value)
			}
			b = binary.BigEndian.AppendUint32(nil, uint32(n))
		case radattr.Address:
			ip, err := netip.ParseAddr(a.value)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a.name, err)
			}
			if def.Number == 95 { // NAS-IPv6-Address
				if !ip.Is6() || ip.Is4In6() {
					return nil, fmt.Errorf("%s: %s is not an IPv6 address", a.name, a.value)
				}
			} else if ip = ip.Unmap(); !ip.Is4() {
				return nil, fmt.Errorf("%s: %s is not an IPv4 address", a.name, a.value)
			}
			b = ip.WithZone("").AsSlice()
		default:
			return nil, errors.New(a.name + ": not an attribute this NAS sends")
		}
		p.Add(radius.Type(def.Number), b)
	}
	if _, err := p.Encode(); err != nil {
		return nil, fmt.Errorf("%d attributes, longer than a RADIUS packet holds (%d bytes): %w", len(attrs), radius.MaxPacketLength, err)
	}
	return p, nil
}
