package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"roamsettle/pkg/spool"
)

func makeSpool(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	base := time.Date(2026, 6, 30, 18, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		start := base.Add(time.Duration(i) * time.Minute)
		recs := []spool.Record{
			{StatusType: spool.Start, SessionID: fmt.Sprint("s", i), UserName: "u@aimnet.com", NAS: "nas1", EventTime: start, Received: start},
			{StatusType: spool.Stop, SessionID: fmt.Sprint("s", i), UserName: "u@aimnet.com", NAS: "nas1", SessionTime: int64(60 + i), EventTime: start.Add(time.Duration(60+i) * time.Second), Received: start.Add(time.Hour)},
		}
		p := filepath.Join(dir, spool.FileName("nas1", recs[0].SessionID, start))
		if err := spool.Append(p, recs, false); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func build(t *testing.T, n int) (string, *Manifest) {
	t.Helper()
	src, out := t.TempDir(), t.TempDir()
	w, err := Create(out, "ISPB", 42, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range makeSpool(t, src, n) {
		if _, err := w.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	m, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 2 {
		t.Fatalf("want tar and manifest only, got %v", ents)
	}
	return filepath.Join(out, Name("ISPB", 42)+ManifestExt), &m
}

func TestWriteRead(t *testing.T) {
	mp, m := build(t, 3)
	if m.Totals.Files != 3 || m.Totals.Records != 6 || m.Totals.SessionTime != 60+61+62 {
		t.Fatalf("totals %+v", m.Totals)
	}
	var lines []string
	got, err := Read(mp, func(mb *Member, line int, rec *spool.Record) error {
		lines = append(lines, fmt.Sprintf("%s:%d:%s", mb.Name, line, rec.StatusType))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sequence != 42 || len(lines) != 6 || !strings.HasSuffix(lines[1], ":3:Stop") {
		t.Fatalf("read %v %v", got, lines)
	}
	if s, q, ok := ParseName("ISPB-0000000042"); !ok || s != "ISPB" || q != 42 {
		t.Fatal("ParseName")
	}
	for _, bad := range []string{".ISPB-0000000042", "ISPB-42", "ISPB-0000000000", "IS-PB-0000000001"} {
		if _, _, ok := ParseName(bad); ok {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

func TestReadRejectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, manifest, data string)
		want   string
	}{
		{"flipped data byte", func(t *testing.T, _, data string) {
			b, _ := os.ReadFile(data)
			i := strings.Index(string(b), "u@aimnet")
			b[i] = 'v'
			os.WriteFile(data, b, 0o644)
		}, "checksum mismatch"},
		{"truncated data", func(t *testing.T, _, data string) {
			st, _ := os.Stat(data)
			os.Truncate(data, st.Size()/2)
		}, "ISPB-0000000042.tar"},
		{"control total", func(t *testing.T, manifest, _ string) {
			b, _ := os.ReadFile(manifest)
			s := strings.Replace(string(b), "session_time_sum 183", "session_time_sum 184", 1)
			os.WriteFile(manifest, []byte(s), 0o644)
		}, "session_time_sum 183, manifest says 184"},
		{"manifest cut short", func(t *testing.T, manifest, _ string) {
			b, _ := os.ReadFile(manifest)
			os.WriteFile(manifest, b[:len(b)-4], 0o644)
		}, "cut short"},
		{"member missing from manifest", func(t *testing.T, manifest, _ string) {
			b, _ := os.ReadFile(manifest)
			lines := strings.Split(string(b), "\n")
			var out []string
			for i, l := range lines {
				if strings.HasPrefix(l, "member") && i == len(lines)-3 {
					continue
				}
				out = append(out, l)
			}
			os.WriteFile(manifest, []byte(strings.Join(out, "\n")), 0o644)
		}, "in the data but not in the manifest"},
		{"data missing", func(t *testing.T, _, data string) { os.Remove(data) }, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, _ := build(t, 3)
			tc.mutate(t, mp, strings.TrimSuffix(mp, ManifestExt)+DataExt)
			_, err := Read(mp, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte(ManifestHeader + "\nsender ISPB\nsequence 1\ncreated 2026-07-01T00:00:00Z\ndata_file ISPB-0000000001.tar\ndata_size 10\n" +
		"data_sha256 " + strings.Repeat("a", 64) + "\nfiles 1\nrecords 2\nsession_time_sum 60\nfirst_event -\nlast_event -\n" +
		"member " + strings.Repeat("b", 64) + " 10 2 x.sess\nend\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every error names the manifest and a line of it that exists.
		lines := strings.Count(string(b), "\n") + 1
		placed := func(err error) {
			var me *ManifestError
			if !errors.As(err, &me) || me.File != "fuzz" || me.Line < 1 || me.Line > lines+1 {
				t.Fatalf("error not placed in the manifest: %v", err)
			}
		}
		mr, err := ReadManifest(strings.NewReader(string(b)), "fuzz")
		if err != nil {
			placed(err)
			return
		}
		var members []Member
		for i := 0; i < 1000; i++ {
			mb, err := mr.NextMember()
			if err == io.EOF {
				break
			}
			if err != nil {
				placed(err)
				return
			}
			members = append(members, mb)
		}
		if len(members) == 1000 {
			return
		}
		// A whole manifest writes back to one that reads the same.
		var out bytes.Buffer
		if err := mr.Header.WriteHeader(&out); err != nil {
			t.Fatal(err)
		}
		for i := range members {
			members[i].WriteTo(&out)
		}
		out.WriteString(ManifestEnd + "\n")
		mr2, err := ReadManifest(bytes.NewReader(out.Bytes()), "again")
		if err != nil {
			t.Fatalf("written back, it does not read: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(mr2.Header, mr.Header) {
			t.Fatalf("header changed on the round trip:\n%+v\n%+v", mr.Header, mr2.Header)
		}
		for i := range members {
			mb, err := mr2.NextMember()
			if err != nil || mb != members[i] {
				t.Fatalf("member %d changed on the round trip: %+v %v, was %+v", i, mb, err, members[i])
			}
		}
	})
}
