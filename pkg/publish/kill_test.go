package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"roamsettle/internal/vsftpdtest"
	"roamsettle/pkg/config"
	"roamsettle/pkg/stage"
	"roamsettle/pkg/store"
)

// The kill test runs this test binary as a child that publishes and kills
// itself (SIGKILL) just before it sends a given file: the seam is
// Options.BeforeFile, set here from the child's environment.
const killChild = "ROAMPUBLISH_TEST_KILL_AT"

func TestMain(m *testing.M) {
	if at := os.Getenv(killChild); at != "" {
		cfg, err := config.Load(os.Getenv("KILL_CONFIG"), false, nil, config.NeedCentral|config.NeedParties)
		if err != nil {
			panic(err)
		}
		s := &cfg.Settlement
		if v := os.Getenv("KILL_URL"); v != "" {
			u, err := url.Parse(v)
			if err != nil {
				panic(err)
			}
			s.Publish, s.PublishURL, s.PublishPassword, s.PublishCAFile = v, u, os.Getenv("KILL_PASSWORD"), os.Getenv("KILL_CA")
		}
		err = Publish(context.Background(), stage.NewText("roamreport", os.Stderr), s, Options{Period: "2026-07", Dial: fastDial,
			BeforeFile: func(isp, name string) {
				if isp+"/"+name == at {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}})
		os.Exit(stage.ExitCode(err))
	}
	os.Exit(m.Run())
}

// killedAt publishes in a child process killed (kill -9) just before it
// sends at ("ISP/file").
func (c *central) killedAt(t *testing.T, at string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, killChild+"="+at, "KILL_CONFIG="+filepath.Join(c.dir, "roam.toml"))...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("the child was not killed at %s: %v\n%s", at, err, out)
	}
}

// TestPublishKilled kills the publishing process (SIGKILL) part-way
// through ISPB's set and just before its MANIFEST, to a folder and to a
// real vsftpd: ISPA's set is whole and recorded, ISPB has no MANIFEST and
// nothing under a final name that differs from its local file, and the
// next run completes every set; the publish log then lists, for each ISP,
// exactly the files at its destination with their SHA-256s.
func TestPublishKilled(t *testing.T) {
	s := vsftpdtest.Start(t, vsftpdtest.Options{ISPs: isps})
	for _, tc := range []struct{ dest, at string }{
		{"folder", "ISPB/invoice.csv"},
		{"folder", "ISPB/MANIFEST"},
		{"ftp", "ISPB/invoice.csv"},
		{"ftp", "ISPB/MANIFEST"},
	} {
		t.Run(tc.dest+" "+tc.at, func(t *testing.T) {
			c := newCentral(t, "published", "", 20)
			root := filepath.Join(c.dir, "published")
			var env []string
			if tc.dest == "ftp" {
				folder := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
				u := s.URL(s.Operator, folder)
				env = []string{"KILL_URL=" + u.String(), "KILL_PASSWORD=" + s.Operator.Password}
				c.s.Publish, c.s.PublishURL, c.s.PublishPassword = u.String(), u, s.Operator.Password
				root = filepath.Join(s.Root, folder)
			}
			c.killedAt(t, tc.at, env...)
			if _, err := os.Stat(filepath.Join(root, "ISPA", "2026-07", "MANIFEST")); err != nil {
				t.Errorf("ISPA, sent before the kill: %v", err)
			}
			if _, err := os.Stat(filepath.Join(root, "ISPB", "2026-07", "MANIFEST")); err == nil {
				t.Error("ISPB's MANIFEST is there though its publish was killed")
			}
			for name, b := range files(t, root) {
				if strings.HasPrefix(filepath.Base(name), ".") {
					continue
				}
				isp, rest, _ := strings.Cut(name, "/")
				if want, _ := os.ReadFile(filepath.Join(c.dir, "reports", rest[:len("2026-07")], isp, rest[len("2026-07/"):])); string(want) != b {
					t.Errorf("%s under its final name differs from the local file", name)
				}
			}
			if n := c.count("SELECT count(*) FROM publications WHERE isp != 'ISPA'"); n != 0 {
				t.Errorf("%d publications of ISPs cut off recorded", n)
			}
			run, logs, err := c.publish(Options{Dial: fastDial})
			if err != nil {
				t.Fatalf("the run after the kill: %v\n%s", err, logs)
			}
			if run.Count(countUnchanged) != 1 || run.Count(countPublished) != 2 {
				t.Errorf("after the kill: unchanged %d (ISPA), published %d (ISPB, ISPC)", run.Count(countUnchanged), run.Count(countPublished))
			}
			c.logMatches(t, root)
		})
	}
}

// logMatches checks the publish log against the destination: for each ISP
// its latest publication lists exactly the files there, with their
// SHA-256s and sizes.
func (c *central) logMatches(t *testing.T, root string) {
	t.Helper()
	db, err := store.OpenExisting(context.Background(), c.s.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range isps {
		rows, err := db.SQL().Query(`SELECT f.file, f.sha256, f.size FROM publication_files f WHERE f.publication_id =
		(SELECT max(publication_id) FROM publications WHERE isp = ?) ORDER BY f.file`, id)
		if err != nil {
			t.Fatal(err)
		}
		logged := map[string]string{}
		for rows.Next() {
			var name, sum string
			var size int64
			rows.Scan(&name, &sum, &size)
			logged[name] = fmt.Sprintf("%s %d", sum, size)
		}
		rows.Close()
		there := map[string]string{}
		for name, b := range files(t, filepath.Join(root, id, "2026-07")) {
			if !strings.HasPrefix(filepath.Base(name), ".") {
				h := sha256.Sum256([]byte(b))
				there[name] = fmt.Sprintf("%s %d", hex.EncodeToString(h[:]), len(b))
			}
		}
		if fmt.Sprint(logged) != fmt.Sprint(there) {
			t.Errorf("%s: the publish log lists\n%v\nthe destination holds\n%v", id, logged, there)
		}
	}
}
