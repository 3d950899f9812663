package sim

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
// and waits for its Accounting-Response, retransmitting like radclient. A
// request never answered is counted, not fatal: the run goes on and the
// error at the end says how many.
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
	client := &radius.Client{Retry: o.Retry}
	var (
		st      SendStats
		mu      sync.Mutex
		lastErr error
		wg      sync.WaitGroup
	)
	work := make(chan *radius.Packet, o.Parallel)
	for range o.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				c, cancel := context.WithTimeout(ctx, o.Timeout)
				resp, err := client.Exchange(c, p, o.Addr)
				cancel()
				mu.Lock()
				if err == nil && resp.Code == radius.CodeAccountingResponse {
					st.Answered++
				} else if err != nil {
					lastErr = err
				}
				mu.Unlock()
			}
		}()
	}
	parseErr := readRequests(r, func(attrs []attr, line int) error {
		p, err := encode(attrs, o.Secret)
		if err != nil {
			return fmt.Errorf("request ending on line %d: %w", line, err)
		}
		select {
		case work <- p:
			st.Sent++
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	if parseErr != nil {
		return st, parseErr
	}
	if st.Answered < st.Sent {
		return st, fmt.Errorf("%d of %d requests to %s unanswered (last: %w)", st.Sent-st.Answered, st.Sent, o.Addr, lastErr)
	}
	return st, nil
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
