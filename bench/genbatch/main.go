// Command genbatch writes a batch of synthetic accounting records for the
// roamload benchmark (bench/load.sh): the batch, made with batch.Create
// from spool files written by spool.Append, and the same records as a CSV
// in the raw table's columns (store.RawColumns), for the sqlite3 shell's
// .import to load into a table of the same shape.
//
//	go run ./bench/genbatch -records 1000000 -out /tmp/in -csv /tmp/raw.csv
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/spool"
	"roamsettle/pkg/store"
)

func main() {
	records := flag.Int("records", 1_000_000, "number of records")
	per := flag.Int("per-file", 4, "records per session file (Start, 2 Interim-Updates, Stop)")
	out := flag.String("out", "", "folder for the batch (required)")
	csvPath := flag.String("csv", "", "also write the records as CSV rows of the raw table here")
	sender := flag.String("sender", "ISPB", "sender id")
	seq := flag.Uint64("seq", 1, "sequence number")
	flag.Parse()
	if *out == "" || *per < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *csvPath, *sender, *seq, *records, *per); err != nil {
		fmt.Fprintln(os.Stderr, "genbatch:", err)
		os.Exit(1)
	}
}

func run(out, csvPath, sender string, seq uint64, records, per int) error {
	created := time.Date(2026, 7, 1, 2, 0, 0, 0, time.UTC)
	w, err := batch.Create(out, sender, seq, created)
	if err != nil {
		return err
	}
	defer w.Abort()
	tmp, err := os.MkdirTemp(out, ".genbatch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	var cw *csv.Writer
	if csvPath != "" {
		f, err := os.Create(csvPath)
		if err != nil {
			return err
		}
		defer f.Close()
		cw = csv.NewWriter(f)
		defer cw.Flush()
	}
	zones := store.Zones{}
	var row store.Row
	var fields []string
	entry, member := int64(1), int64(1)
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]spool.Record, 0, per)
	for done, i := 0, 0; done < records; i++ {
		n := min(per, records-done)
		recs = session(recs[:0], i, n, base)
		name := spool.FileName(recs[0].NAS, recs[0].SessionID, recs[0].SessionStart())
		path := filepath.Join(tmp, name)
		if err := spool.Append(path, recs, false); err != nil {
			return err
		}
		if _, err := w.Add(path); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		if cw != nil {
			for j := range recs {
				row.Fill(&recs[j], zones)
				row.EntryID, row.BatchID, row.MemberID, row.Line = entry, 1, member, int64(j+2)
				entry++
				if err := cw.Write(row.AppendText(fields[:0])); err != nil {
					return err
				}
			}
		}
		member++
		done += n
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	m, err := w.Commit()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "genbatch: %s: %d files, %d records, %d bytes\n", m.DataFile, m.Totals.Files, m.Totals.Records, m.DataSize)
	return nil
}

// session makes the n records of session i: a Start, Interim-Updates and
// a Stop, with the fields a NAS typically sends.
func session(recs []spool.Record, i, n int, base time.Time) []spool.Record {
	start := base.Add(time.Duration(i%2_000_000) * time.Second)
	nas := fmt.Sprintf("nas%d", i%16)
	sid := fmt.Sprintf("%08X", i)
	for j := 0; j < n; j++ {
		status := spool.Interim
		switch {
		case j == 0:
			status = spool.Start
		case j == n-1:
			status = spool.Stop
		}
		st := int64(j * 600)
		ev := start.Add(time.Duration(st) * time.Second)
		r := spool.Record{
			Received:       ev.Add(1234567 * time.Nanosecond),
			Origin:         "radius",
			NAS:            nas,
			NASIP:          fmt.Sprintf("192.0.2.%d", 10+i%16),
			NASIdentifier:  nas + ".pop.example.net",
			Source:         fmt.Sprintf("192.0.2.%d:%d", 10+i%16, 1024+i%50000),
			PacketID:       (i + j) % 256,
			Authenticator:  fmt.Sprintf("%032x", uint64(i)<<8|uint64(j)),
			StatusType:     status,
			SessionID:      sid,
			UserName:       fmt.Sprintf("user%d@realm%d.example.com", i%50000, i%40),
			SessionTime:    st,
			EventTime:      ev,
			EventStamped:   true,
			TimeZone:       "Australia/Sydney",
			LocalServer:    "ISPB 192.0.2.1:1813",
			NASPort:        fmt.Sprint(i % 4096),
			NASPortType:    "Virtual",
			CallingStation: fmt.Sprintf("61-2-%07d", i%10_000_000),
			CalledStation:  "61-2-5550100",
			FramedIP:       fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			InputOctets:    uint64(st) * 1200,
			OutputOctets:   uint64(st) * 5300,
			InputPackets:   uint64(st) * 3,
			OutputPackets:  uint64(st) * 5,
		}
		if status == spool.Stop {
			r.TerminateCause = "User-Request"
		}
		recs = append(recs, r)
	}
	return recs
}
