// Command genclean writes the batches of the roamclean benchmark
// (bench/clean.sh): sessions of Start, one Interim-Update and Stop, some
// Stops sent again (a retransmission with a new delay and receipt time, in
// a second batch) and some records of an unknown realm (rejected).
//
//	go run ./bench/genclean -sessions 1000000 -out /tmp/in
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"roamsettle/pkg/batch"
	"roamsettle/pkg/spool"
)

func main() {
	sessions := flag.Int("sessions", 1_000_000, "number of sessions (three records each)")
	dupPct := flag.Int("dup-percent", 5, "percent of Stops sent twice")
	rejectPct := flag.Int("reject-percent", 1, "percent of sessions from a realm of no partner")
	per := flag.Int("per-file", 100, "sessions per spool file (the cleaner does not care how the edge filed them)")
	out := flag.String("out", "", "folder for the batches (required)")
	flag.Parse()
	if *out == "" || *per < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *sessions, *dupPct, *rejectPct, *per); err != nil {
		fmt.Fprintln(os.Stderr, "genclean:", err)
		os.Exit(1)
	}
}

func run(out string, sessions, dupPct, rejectPct, per int) error {
	created := time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)
	main, err := batch.Create(out, "ISPB", 1, created)
	if err != nil {
		return err
	}
	defer main.Abort()
	again, err := batch.Create(out, "ISPB", 2, created.Add(time.Hour))
	if err != nil {
		return err
	}
	defer again.Abort()
	tmp, err := os.MkdirTemp(out, ".genclean-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	realms := []string{"aimnet.com", "example.net", "AIMNET.COM"}
	var recs, dups []spool.Record
	files := 0
	flush := func(w *batch.Writer, rs *[]spool.Record) error {
		if len(*rs) == 0 {
			return nil
		}
		files++
		p := filepath.Join(tmp, fmt.Sprintf("f%08d.sess", files))
		if err := spool.Append(p, *rs, false); err != nil {
			return err
		}
		if _, err := w.Add(p); err != nil {
			return err
		}
		*rs = (*rs)[:0]
		return os.Remove(p)
	}
	for i := 0; i < sessions; i++ {
		start := base.Add(time.Duration(i) * 2 * time.Second)
		dur := int64(60 + i%7200)
		realm := realms[i%len(realms)]
		if i%100 < rejectPct {
			realm = "nowhere.org"
		}
		nas := fmt.Sprintf("nas%d", i%4+1)
		r := spool.Record{StatusType: spool.Start, SessionID: fmt.Sprintf("%08X", i), UserName: fmt.Sprintf("user%d@%s", i%50000, realm),
			NAS: nas, NASIP: fmt.Sprintf("192.0.2.%d", i%4+10), EventTime: start, Received: start.Add(80 * time.Millisecond),
			Origin: "radius", PacketID: i % 256, Authenticator: fmt.Sprintf("%032x", i), TimeZone: "Australia/Sydney",
			LocalServer: "ISPB 203.0.113.5:1813", NASPortType: "Virtual", CallingStation: fmt.Sprintf("+6141%07d", i%10000000)}
		mid := r
		mid.StatusType, mid.SessionTime = spool.Interim, dur/2
		mid.EventTime = start.Add(time.Duration(dur/2) * time.Second)
		mid.Received = mid.EventTime.Add(80 * time.Millisecond)
		mid.InputOctets, mid.OutputOctets = uint64(i)*100, uint64(i)*300
		stop := mid
		stop.StatusType, stop.SessionTime, stop.TerminateCause = spool.Stop, dur, "User-Request"
		stop.EventTime = start.Add(time.Duration(dur) * time.Second)
		stop.Received = stop.EventTime.Add(80 * time.Millisecond)
		stop.InputOctets, stop.OutputOctets, stop.InputPackets, stop.OutputPackets = uint64(i)*200, uint64(i)*600, uint64(i%9000), uint64(i%12000)
		recs = append(recs, r, mid, stop)
		if i%100 < dupPct {
			d := stop
			d.DelayTime, d.Received = 3, stop.Received.Add(3*time.Second)
			d.PacketID = (d.PacketID + 1) % 256
			dups = append(dups, d)
		}
		if (i+1)%per == 0 {
			if err := flush(main, &recs); err != nil {
				return err
			}
			if len(dups) >= per {
				if err := flush(again, &dups); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(main, &recs); err != nil {
		return err
	}
	if err := flush(again, &dups); err != nil {
		return err
	}
	if _, err := main.Commit(); err != nil {
		return err
	}
	_, err = again.Commit()
	return err
}
