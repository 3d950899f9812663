// Package batch is the unit that travels from an edge to the central host:
// a tar of closed spool files plus a text manifest with checksums and
// control totals. docs/batch.md describes the format.
package batch

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"roamsettle/pkg/spool"
)

// Name is a batch's base name: sender id and sequence number.
func Name(sender string, seq uint64) string { return fmt.Sprintf("%s-%010d", sender, seq) }

// File extensions of the two parts of a batch.
const (
	DataExt     = ".tar"
	ManifestExt = ".manifest"
)

var nameRe = regexp.MustCompile(`^([A-Za-z0-9_]{1,32})-([0-9]{10})$`)

// ParseName splits a base name ("ISPB-0000000042") into sender and sequence.
// Temporary upload names (leading '.') never parse.
func ParseName(base string) (sender string, seq uint64, ok bool) {
	m := nameRe.FindStringSubmatch(base)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.ParseUint(m[2], 10, 64)
	if err != nil || n == 0 {
		return "", 0, false
	}
	return m[1], n, true
}

// Totals are the control totals of a set of records.
type Totals struct {
	Files       int64
	Records     int64
	SessionTime int64     // sum of session_time over all records, seconds
	FirstEvent  time.Time // earliest event_time (zero when no records)
	LastEvent   time.Time // latest event_time
}

// Add counts one record.
func (t *Totals) Add(r *spool.Record) {
	t.Records++
	t.SessionTime += r.SessionTime
	if t.FirstEvent.IsZero() || r.EventTime.Before(t.FirstEvent) {
		t.FirstEvent = r.EventTime
	}
	if r.EventTime.After(t.LastEvent) {
		t.LastEvent = r.EventTime
	}
}

// Diff lists the control totals that differ, empty when equal.
func (t Totals) Diff(o Totals) []string {
	var d []string
	if t.Files != o.Files {
		d = append(d, fmt.Sprintf("files %d, manifest says %d", t.Files, o.Files))
	}
	if t.Records != o.Records {
		d = append(d, fmt.Sprintf("records %d, manifest says %d", t.Records, o.Records))
	}
	if t.SessionTime != o.SessionTime {
		d = append(d, fmt.Sprintf("session_time_sum %d, manifest says %d", t.SessionTime, o.SessionTime))
	}
	if !t.FirstEvent.Equal(o.FirstEvent) {
		d = append(d, fmt.Sprintf("first_event %s, manifest says %s", fmtTime(t.FirstEvent), fmtTime(o.FirstEvent)))
	}
	if !t.LastEvent.Equal(o.LastEvent) {
		d = append(d, fmt.Sprintf("last_event %s, manifest says %s", fmtTime(t.LastEvent), fmtTime(o.LastEvent)))
	}
	return d
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "-" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}
