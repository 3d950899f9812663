// Command genspool writes the edge spool of the end-to-end benchmark
// (bench/e2e.sh): one ready session file per session (Start then Stop, as
// the listener's checkpoint leaves them), sessions of June 2026 at ISPB's
// NAS by users of the other partners, and the partners.csv and
// tariffs.csv the central stages need. Files are written without fsync:
// generating them is not what is timed.
//
//	go run ./bench/genspool -sessions 1000000 -out /tmp/e2e
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"roamsettle/pkg/spool"
)

func main() {
	sessions := flag.Int("sessions", 1_000_000, "sessions (one ready file of two records each)")
	isps := flag.Int("isps", 10, "partners; ISPB is the edge's, the others are the users' home ISPs")
	out := flag.String("out", "", "folder to write spool/, partners.csv and tariffs.csv into (required)")
	flag.Parse()
	if *out == "" || *isps < 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *sessions, *isps); err != nil {
		fmt.Fprintln(os.Stderr, "genspool:", err)
		os.Exit(1)
	}
}

func run(out string, n, isps int) error {
	l := spool.Layout{Root: filepath.Join(out, "spool")}
	if err := l.Init(); err != nil {
		return err
	}
	var p strings.Builder
	p.WriteString("id,name,country,realms,timezone\nISPB,Connect.com,Australia,connect.com.au,Australia/Sydney\n")
	homes := make([]string, 0, isps-1)
	for i := 1; i < isps; i++ {
		homes = append(homes, fmt.Sprintf("isp%02d.net", i))
		fmt.Fprintf(&p, "ISP%02d,Net %d,Country %d,isp%02d.net,Europe/Berlin\n", i, i, i, i)
	}
	tariffs := "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n" +
		"*,*,2026-01-01,*,*,0.0300,0.0500,60,60\nISPB,*,2026-06-01,Sat Sun,*,0.0100,0.0300,60,0\n"
	if err := os.WriteFile(filepath.Join(out, "partners.csv"), []byte(p.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "tariffs.csv"), []byte(tariffs), 0o644); err != nil {
		return err
	}
	// Every session starts and stops in June 2026 (local and UTC) whatever
	// n is: starts wrap every 25 days, session ids keep them apart.
	base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	span := int64(25 * 24 * 3600)
	for i := 0; i < n; i++ {
		start := base.Add(time.Duration(int64(i)*2%span) * time.Second)
		dur := int64(60 + i%7200)
		nas := fmt.Sprintf("nas%d", i%4+1)
		sid := fmt.Sprintf("%08X", i)
		common := spool.Record{
			Origin: "radius", NAS: nas, NASIP: fmt.Sprintf("192.0.2.%d", i%4+10), NASIdentifier: nas,
			Source: fmt.Sprintf("192.0.2.%d:1646", i%4+10), PacketID: i % 256, Authenticator: fmt.Sprintf("%032x", i*7919),
			SessionID: sid, UserName: fmt.Sprintf("user%d@%s", i%50000, homes[i%len(homes)]), TimeZone: "Australia/Sydney",
			LocalServer: "ISPB 203.0.113.5:1813", NASPort: fmt.Sprint(i % 48), NASPortType: "Virtual",
			CallingStation: fmt.Sprintf("+6141%07d", i%10_000_000), CalledStation: "0298765432",
			FramedIP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		}
		first := common
		first.StatusType, first.EventTime, first.EventStamped = spool.Start, start, true
		first.Received = start.Add(120 * time.Millisecond)
		stop := common
		stop.StatusType, stop.SessionTime, stop.EventTime, stop.EventStamped = spool.Stop, dur, start.Add(time.Duration(dur)*time.Second), true
		stop.Received = stop.EventTime.Add(time.Second)
		stop.InputOctets, stop.OutputOctets = uint64(dur)*1200, uint64(dur)*5300
		stop.InputPackets, stop.OutputPackets = uint64(dur)*3, uint64(dur)*5
		stop.TerminateCause = "User-Request"
		path := filepath.Join(l.Ready(), spool.FileName(nas, sid, start))
		if err := spool.Append(path, []spool.Record{first, stop}, false); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "genspool: %d ready session files in %s\n", n, l.Ready())
	return nil
}
