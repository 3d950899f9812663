package spool

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() Record {
	return Record{
		Received: time.Date(2026, 6, 30, 18, 43, 36, 123456789, time.UTC), Origin: "radius",
		NAS: "nas1", NASIP: "192.0.2.10", NASIdentifier: "pop-syd-1", Source: "192.0.2.10:40000",
		PacketID: 7, Authenticator: "00112233445566778899aabbccddeeff", StatusType: Stop,
		SessionID: "sess/1 %x\tq", UserName: "user1@aimnet.com", DelayTime: 1, SessionTime: 300,
		EventTime: time.Date(2026, 6, 30, 18, 43, 35, 0, time.UTC), EventStamped: true,
		TimeZone: "Australia/Sydney", LocalServer: "ISPB 127.0.0.1:1813", NASPort: "5", NASPortID: "port\n5",
		NASPortType: "Virtual", CallingStation: "02-00-00-00-00-01", FramedIP: "10.1.2.3",
		InputOctets: 5<<32 + 10, OutputOctets: 99, InputPackets: 3, OutputPackets: 4,
		TerminateCause: "User-Request", Class: "deadbeef",
	}
}

func TestLineRoundTrip(t *testing.T) {
	r := sample()
	line := r.AppendLine(nil)
	if bytes.Count(line, []byte{'\n'}) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	got, err := ParseLine(line[:len(line)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
	}
}

func TestParseLineErrors(t *testing.T) {
	s0 := sample()
	good := s0.AppendLine(nil)
	good = good[:len(good)-1]
	flip := append([]byte(nil), good...)
	flip[3] ^= 1
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"no crc", "status_type=Stop", "field crc: missing"},
		{"bad crc", string(flip), "checksum mismatch"},
		{"unknown field", withCRC("status_type=Stop\tcolour=red"), "field colour: unknown field"},
		{"bad number", withCRC("status_type=Stop\tsession_time=-5"), "field session_time"},
		{"missing event", withCRC("status_type=Stop\tnas=n\tsession_id=s\treceived=2026-01-01T00:00:00Z"), "field event_time: missing"},
		{"bad status", withCRC("status_type=Paused"), "not a known status type"},
		{"bad escape", withCRC("status_type=Stop\tuser_name=a%zz"), "field user_name"},
		{"twice", withCRC("status_type=Stop\tstatus_type=Stop"), "given twice"},
	} {
		_, err := ParseLine([]byte(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func withCRC(body string) string { return body + "\tcrc=" + hex8([]byte(body)) }

func TestAppendReadAndTornTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName("nas1", "a/b c", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
	if !strings.HasPrefix(filepath.Base(p), "nas1_20260102T030405Z_a~2Fb~20c") {
		t.Fatalf("file name %s", filepath.Base(p))
	}
	r1, r2 := sample(), sample()
	r1.StatusType, r1.SessionTime = Start, 0
	if err := Append(p, []Record{r1}, true); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash mid-write: half a line with no LF.
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("status_type=Sto"))
	f.Close()
	if _, err := ReadFile(p); !errors.Is(err, ErrTornTail) {
		t.Fatalf("want torn tail, got %v", err)
	}
	if err := Append(p, []Record{r2}, true); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(p)
	if err != nil || len(recs) != 2 || recs[1].StatusType != Stop {
		t.Fatalf("after repair: %v %v", recs, err)
	}
}

func TestReaderErrorsNameFileAndLine(t *testing.T) {
	s0 := sample()
	line := s0.AppendLine(nil)
	body := Header + "\n" + string(line) + "garbage\n"
	rd := NewReader(strings.NewReader(body), "x.sess")
	if _, err := rd.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := rd.Next()
	if err == nil || !strings.HasPrefix(err.Error(), "x.sess:3: ") {
		t.Fatalf("got %v", err)
	}
	rd = NewReader(strings.NewReader("hello\n"), "y.sess")
	if _, err := rd.Next(); err == nil || !strings.Contains(err.Error(), "y.sess:1: not a spool file") {
		t.Fatalf("got %v", err)
	}
	rd = NewReader(strings.NewReader(Header+"\n"), "z.sess")
	if _, err := rd.Next(); err != io.EOF {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	s := sample()
	line := s.AppendLine(nil)
	f.Add(line[:len(line)-1])
	f.Add([]byte("status_type=Stop\tcrc=00000000"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseLine(b)
		if err != nil {
			// It names the field at fault.
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" && !bytes.HasPrefix(b, []byte("=")) && len(b) > 0 && b[0] != '\t' {
				t.Fatalf("error names no field: %v", err)
			}
			return
		}
		// Whatever parses must write back to a line that parses the same.
		out := r.AppendLine(nil)
		r2, err := ParseLine(out[:len(out)-1])
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-parse: %v\n%+v\n%+v", err, r, r2)
		}
	})
}

func FuzzReader(f *testing.F) {
	s0 := sample()
	line := s0.AppendLine(nil)
	f.Add([]byte(Header + "\n" + string(line)))
	f.Add([]byte(Header + "\n" + string(line[:20])))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every error names the file and a line that exists; every record
		// read writes back to the very line it was read from.
		lines := bytes.Count(b, []byte("\n")) + 1
		raw := bytes.Split(b, []byte("\n"))
		rd := NewReader(bytes.NewReader(b), "fuzz")
		for i := 0; i < 10000; i++ {
			r, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || le.File != "fuzz" || le.Line < 1 || le.Line > lines {
					t.Fatalf("error not placed in the file: %v", err)
				}
				return
			}
			again, err := ParseLine(raw[rd.Line()-1])
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("line %d reads differently alone: %v", rd.Line(), err)
			}
		}
	})
}
