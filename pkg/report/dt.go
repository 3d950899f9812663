package report

import (
	"bufio"
	"fmt"
	"strconv"

	"roamsettle/pkg/config"
	"roamsettle/pkg/store"
)

// AppendDT appends a rated session's detail-transaction line, in the form
// of the patent's Example 1:
//
//	"DT","RM","07/10/97","01:43:35","06/30/97","18:43:35","user1@aimnet.com","Aimnet;USA","Connect.com;Australia","S","300"
//
// stop date and time in GMT, the same in the local ISP's time, the user as
// user@realm (realm in lower case), home name;country, local
// name;country, units S, the duration in seconds. Lines end with LF. A
// double quote inside a field is doubled, as in CSV; a control byte (it
// would break the line) is written as '?'.
func AppendDT(b []byte, l *Line, p *config.Partners) ([]byte, error) {
	gd, gt, err := dtTime(l.StopUTC, store.TimeLayout)
	if err != nil {
		return b, fmt.Errorf("session %s: %w", l.SessionKey, err)
	}
	ld, lt, err := dtTime(l.StopLocal, store.LocalLayout)
	if err != nil {
		return b, fmt.Errorf("session %s: %w", l.SessionKey, err)
	}
	for i, f := range []string{"DT", "RM", gd, gt, ld, lt, l.UserName, party(p, l.Home), party(p, l.Local), "S", strconv.FormatInt(l.Duration, 10)} {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, f)
	}
	return append(b, '\n'), nil
}

func appendField(b []byte, f string) []byte {
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case c == '"':
			b = append(b, '"', '"')
		case c < 0x20 || c == 0x7f:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// dtWriter is one ISP's DT file, written as the sessions stream by.
type dtWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (d *dtWriter) add(l *Line, p *config.Partners) error {
	var err error
	if d.buf, err = AppendDT(d.buf[:0], l, p); err != nil {
		return err
	}
	_, err = d.w.Write(d.buf)
	return err
}
