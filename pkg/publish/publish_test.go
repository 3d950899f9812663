package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"roamsettle/internal/vsftpdtest"
	"roamsettle/pkg/stage"
)

// Each ISP's folder of the revision lands whole at <publish>/<ISP>/<PERIOD>,
// MANIFEST last; a second run sends nothing.
func TestPublishToFolder(t *testing.T) {
	c := newCentral(t, "published", "", 60)
	var order []string
	run, logs, err := c.publish(Options{BeforeFile: func(isp, name string) {
		order = append(order, isp+"/"+name)
		// Before its MANIFEST goes, an ISP's directory holds none.
		if _, err := os.Stat(filepath.Join(c.dir, "published", isp, "2026-07", "MANIFEST")); err == nil {
			t.Errorf("%s: MANIFEST there before %s was sent", isp, name)
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	for _, id := range []string{"ISPA", "ISPB", "ISPC"} {
		want := files(t, filepath.Join(c.dir, "reports", "2026-07", id))
		got := files(t, filepath.Join(c.dir, "published", id, "2026-07"))
		if names(got) != names(want) {
			t.Fatalf("%s: published %s\nwant %s", id, names(got), names(want))
		}
		for n, b := range want {
			if got[n] != b {
				t.Errorf("%s/%s differs from the local file", id, n)
			}
		}
		if !strings.Contains(names(want), id+"_2026-07_DT.txt") || !strings.Contains(names(want), id+"_2026-07_REJECTS.csv") {
			t.Errorf("%s: the set lacks its DT or REJECTS file: %s", id, names(want))
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(c.dir, "published")); len(ents) != 3 {
		t.Errorf("published/ holds %d entries, want the 3 ISPs' folders (no operator/)", len(ents))
	}
	// ISP after ISP, each one's MANIFEST last.
	last := ""
	for _, o := range order {
		isp, _, _ := strings.Cut(o, "/")
		if last != "" && !strings.HasPrefix(last, isp+"/") && !strings.HasSuffix(last, "/MANIFEST") {
			t.Errorf("%s started before the previous ISP's MANIFEST (%s)", o, last)
		}
		last = o
	}
	if run.Count(countPublished) != 3 || run.Count(countFiles) != int64(len(order)) {
		t.Errorf("counts: published %d, files %d (%d uploads)", run.Count(countPublished), run.Count(countFiles), len(order))
	}

	run, _, err = c.publish(Options{BeforeFile: func(isp, name string) { t.Errorf("re-publish sent %s/%s", isp, name) }})
	if err != nil || run.Count(countUnchanged) != 3 || run.Count(countFiles) != 0 {
		t.Fatalf("re-publish: %v, unchanged %d, files %d", err, run.Count(countUnchanged), run.Count(countFiles))
	}
	if n := c.count("SELECT count(*) FROM publications"); n != 3 {
		t.Errorf("%d publications recorded after an identical re-publish, want 3", n)
	}
}

// A publish cut off part-way leaves only whole files under final names
// and no MANIFEST; the next run completes the set.
func TestPublishInterruptedCompletes(t *testing.T) {
	c := newCentral(t, "published", "", 30)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ispb := 0
	_, _, err := c.publishCtx(ctx, Options{BeforeFile: func(isp, name string) {
		if isp == "ISPB" {
			if ispb++; ispb == 3 {
				cancel() // two of ISPB's files are in place
			}
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want the cancel, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "published", "ISPB", "2026-07", "MANIFEST")); err == nil {
		t.Fatal("ISPB's MANIFEST is there though its set was cut off")
	}
	for n := range files(t, filepath.Join(c.dir, "published")) {
		if strings.HasPrefix(filepath.Base(n), ".") {
			t.Errorf("temporary file %s left", n)
		}
	}
	run, logs, err := c.publish(Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if run.Count(countUnchanged) != 1 || run.Count(countPublished) != 2 {
		t.Errorf("after the cut: unchanged %d (ISPA), published %d (ISPB, ISPC)", run.Count(countUnchanged), run.Count(countPublished))
	}
	for _, id := range []string{"ISPA", "ISPB", "ISPC"} {
		if names(files(t, filepath.Join(c.dir, "published", id, "2026-07"))) != names(files(t, filepath.Join(c.dir, "reports", "2026-07", id))) {
			t.Errorf("%s incomplete after the second run", id)
		}
	}
}

// A file changed at the destination is sent again, with the MANIFEST;
// the rest is left alone.
func TestPublishRepairsWhatDiffers(t *testing.T) {
	c := newCentral(t, "published", "", 30)
	if _, _, err := c.publish(Options{}); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(c.dir, "published", "ISPC", "2026-07", "summary.csv")
	os.WriteFile(remote, []byte("tampered\n"), 0o644)
	var sent []string
	run, _, err := c.publish(Options{BeforeFile: func(isp, name string) { sent = append(sent, isp+"/"+name) }})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(sent, " ") != "ISPC/summary.csv ISPC/MANIFEST" {
		t.Errorf("sent %v, want ISPC/summary.csv then its MANIFEST", sent)
	}
	if run.Count(countUnchanged) != 2 {
		t.Errorf("unchanged %d, want 2", run.Count(countUnchanged))
	}
	got, _ := os.ReadFile(remote)
	want, _ := os.ReadFile(filepath.Join(c.dir, "reports", "2026-07", "ISPC", "summary.csv"))
	if !bytes.Equal(got, want) {
		t.Error("summary.csv not repaired")
	}
	// --force sends every file.
	sent = nil
	if _, _, err := c.publish(Options{Force: true, BeforeFile: func(isp, name string) { sent = append(sent, name) }}); err != nil {
		t.Fatal(err)
	}
	if len(sent) < 3*8 {
		t.Errorf("--force sent %d files", len(sent))
	}
}

// A damaged local file is never published; the other ISPs are.
func TestPublishRefusesDamagedLocalFile(t *testing.T) {
	c := newCentral(t, "published", "", 30)
	os.WriteFile(filepath.Join(c.dir, "reports", "2026-07", "ISPB", "invoice.csv"), []byte("changed\n"), 0o644)
	run, logs, err := c.publish(Options{})
	if err == nil || stage.ExitCode(err) != 1 || !strings.Contains(err.Error(), "ISPB") {
		t.Fatalf("want exit 1 naming ISPB, got %v", err)
	}
	if !strings.Contains(logs, "invoice.csv does not match its MANIFEST") || !strings.Contains(logs, "roamreport verify") {
		t.Errorf("log does not name the file or say what to do:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "published", "ISPB")); err == nil {
		t.Error("ISPB got a folder")
	}
	if run.Count(countPublished) != 2 || run.Count(countFailed) != 1 {
		t.Errorf("published %d, failed %d", run.Count(countPublished), run.Count(countFailed))
	}
}

func TestPublishUsageErrors(t *testing.T) {
	c := newCentral(t, "", "", 3)
	if _, _, err := c.publish(Options{}); stage.ExitCode(err) != 2 || !strings.Contains(err.Error(), "nowhere to publish ISPA, ISPB, ISPC") {
		t.Errorf("no destination: %v", err)
	}
	c = newCentral(t, "published", "", 3)
	if _, _, err := c.publish(Options{Period: "2026-05"}); stage.ExitCode(err) != 2 || !strings.Contains(err.Error(), "2026-05 has not been reported") {
		t.Errorf("period never reported: %v", err)
	}
	if _, _, err := c.publish(Options{Revision: 2}); stage.ExitCode(err) != 2 || !strings.Contains(err.Error(), "no revision 2") {
		t.Errorf("no such revision: %v", err)
	}
}

func TestStatus(t *testing.T) {
	c := newCentral(t, "published", "", 12)
	var before bytes.Buffer
	if err := Status(context.Background(), c.s, &before, "", false); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`ISPA +not published`).MatchString(before.String()) {
		t.Errorf("status before publishing:\n%s", before.String())
	}
	if _, _, err := c.publish(Options{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Status(context.Background(), c.s, &out, "2026-07", true); err != nil {
		t.Fatal(err)
	}
	var rep StatusReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Periods) != 1 || len(rep.Periods[0].Revisions) != 1 {
		t.Fatalf("status: %s", out.String())
	}
	r := rep.Periods[0].Revisions[0]
	if r.Sessions != 12 || len(r.Published) != 3 || len(r.NotPublished) != 0 || r.Published[1].ISP != "ISPB" ||
		r.Published[1].Folder != "ISPB/2026-07" || r.Published[1].FilesSent == 0 {
		t.Errorf("status: %+v", r)
	}
}

// A remote MANIFEST that is not a whole one of ours (garbage, cut short,
// empty, a line too long, far too large) is not trusted: the next publish
// sends the whole set and replaces it, to a folder and over FTP.
func TestPublishOverDamagedRemoteManifest(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{ISPs: isps})
	for _, dest := range []string{"folder", "ftp"} {
		for _, tc := range []struct {
			name   string
			damage func([]byte) []byte
		}{
			{"garbage", func([]byte) []byte { return []byte("hello\x00world\n") }},
			{"cut short", func(b []byte) []byte { return b[:len(b)-4] }},
			{"empty", func([]byte) []byte { return nil }},
			{"a line too long", func(b []byte) []byte { return append(b[:14:14], bytes.Repeat([]byte("y"), 100<<10)...) }},
			{"too large", func(b []byte) []byte { return bytes.Repeat(b, maxManifest/len(b)+1) }},
		} {
			t.Run(dest+" "+tc.name, func(t *testing.T) {
				c := newCentral(t, "published", "", 6)
				root := filepath.Join(c.dir, "published")
				if dest == "ftp" {
					folder := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
					u := s.URL(s.Operator, folder)
					c.s.Publish, c.s.PublishURL, c.s.PublishPassword = u.String(), u, s.Operator.Password
					root = filepath.Join(s.Root, folder)
				}
				if _, _, err := c.publish(Options{}); err != nil {
					t.Fatal(err)
				}
				m := filepath.Join(root, "ISPB", "2026-07", "MANIFEST")
				b, _ := os.ReadFile(m)
				os.WriteFile(m, tc.damage(b), 0o644)
				run, logs, err := c.publish(Options{})
				if err != nil {
					t.Fatalf("publish over a damaged MANIFEST: %v\n%s", err, logs)
				}
				if run.Count(countPublished) != 1 || run.Count(countFiles) != 9 {
					t.Errorf("published %d, files sent %d: want ISPB's whole set", run.Count(countPublished), run.Count(countFiles))
				}
				if got, _ := os.ReadFile(m); !bytes.Equal(got, b) {
					t.Error("the damaged MANIFEST was not replaced")
				}
			})
		}
	}
}
