package report

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roamsettle/internal/testbin"
)

// chromium runs the real browser headless on a file with args (a
// --screenshot or --dump-dom), in a profile, HOME and caches of its own
// under the test's temp folder, and returns what it wrote to stdout and
// the problems its log shows: console messages (the page has no script,
// so any is an error: "Uncaught ...", a refused load) and every file it
// loaded other than the page itself. Its log of file loads
// (file_url_loader_factory) must name the page, or the check checks
// nothing.
func chromium(t *testing.T, bin, page string, args ...string) (string, []string) {
	t.Helper()
	// A short path of its own: Chromium's singleton socket lives in
	// TMPDIR, and a socket's path has at most 107 bytes.
	home, err := os.MkdirTemp("", "roamchr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	pageURL := (&url.URL{Scheme: "file", Path: page}).String()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + filepath.Join(home, "profile"), "--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--force-color-profile=srgb", "--force-device-scale-factor=1",
		"--enable-logging=stderr", "--v=0", "--vmodule=file_url_loader_factory=1"}, append(args, pageURL)...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "TMPDIR=" + home}
	// Its own process group, so a timeout ends the renderer and GPU
	// processes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // anything of its group left behind
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish in time\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	var problems []string
	loadedPage := false
	for _, line := range strings.Split(stderr.String(), "\n") {
		switch {
		case strings.Contains(line, ":CONSOLE"), strings.Contains(line, "Uncaught"):
			problems = append(problems, line)
		case strings.Contains(line, "FileURLLoader::Start: "):
			if u := line[strings.Index(line, "FileURLLoader::Start: ")+len("FileURLLoader::Start: "):]; u == pageURL {
				loadedPage = true
			} else {
				problems = append(problems, "loads "+u)
			}
		}
	}
	if !loadedPage {
		t.Fatalf("chromium's log does not show it loading %s: the checks of its log would see nothing\n%s", pageURL, stderr.String())
	}
	return stdout.String(), problems
}

// TestStatementInBrowser opens a statement in the real browser: it loads
// nothing but itself, logs nothing to the console, and its screenshot
// shows the charts' bars in their colours, over at least the area the
// SVG gives them. The same check first proves it catches a page that
// does log and load.
func TestStatementInBrowser(t *testing.T) {
	bin := testbin.Require(t, "chromium")
	t.Run("the check sees problems", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.html")
		os.WriteFile(bad, []byte(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>bad</title></head>`+
			`<body><img src="missing.png" alt=""><script>console.error("x"); nothere();</script></body></html>`), 0o644)
		_, problems := chromium(t, bin, bad, "--dump-dom")
		all := strings.Join(problems, "\n")
		if !strings.Contains(all, "Uncaught") || !strings.Contains(all, `"x"`) || !strings.Contains(all, "missing.png") {
			t.Fatalf("a page with a console error, an exception and a missing image, but the check found:\n%s", all)
		}
	})

	rng := rand.New(rand.NewPCG(11, 12))
	w := newWorld(t, "local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n*,*,2026-01-01,*,*,0.0300,0.0500,60,0\n")
	w.put(randomSessions(rng, 400)...)
	w.put(sess{"ISPB", "<script>alert(1)</script>@aimnet.com", utc("2026-10-09T10:00:00Z"), 300})
	if _, logs, err := w.report("2026-10", false); err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	page := w.path("2026-10", "ISPB", "statement.html")
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	if _, problems := chromium(t, bin, page, "--window-size=1200,1800", "--screenshot="+shot); len(problems) > 0 {
		t.Errorf("loading statement.html:\n%s", strings.Join(problems, "\n"))
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	got := countColours(img)
	// The area the SVG gives each kind of bar, in CSS pixels at its
	// natural size: the page draws it at least that large in a window
	// 1200 wide. Antialiased edges are not the exact colour; 70 % is
	// plenty to say the bars are there.
	area := barArea(t, parseStatement(t, data))
	for class, colour := range map[string]string{"bl": colourLocal, "bh": colourHome, "np": colourCredit, "nn": colourDebit} {
		c := rgb(colour)
		if area[class] == 0 {
			continue
		}
		t.Logf("%s bars (%s): %d pixels in the screenshot, %.0f in the SVG", class, colour, got[c], area[class])
		if float64(got[c]) < 0.7*area[class] {
			t.Errorf("%s bars (%s): %d pixels in the screenshot, the SVG gives them %.0f", class, colour, got[c], area[class])
		}
	}
	if area["bl"] < 5000 || area["bh"] < 5000 || area["np"]+area["nn"] < 500 {
		t.Errorf("the charts are too small to say anything: %v", area)
	}

	dom, problems := chromium(t, bin, page, "--dump-dom")
	if len(problems) > 0 {
		t.Errorf("loading statement.html:\n%s", strings.Join(problems, "\n"))
	}
	if strings.Contains(strings.ToLower(dom), "<script") || !strings.Contains(dom, "&lt;script&gt;alert(1)&lt;/script&gt;@aimnet.com") {
		t.Error("the browser's DOM has a script, or not the hostile user name as text")
	}
	if n := strings.Count(dom, `<svg class="chart"`); n != 3 {
		t.Errorf("the browser's DOM has %d charts, want 3", n)
	}
}

func rgb(hex string) color.RGBA {
	n, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	return color.RGBA{uint8(n >> 16), uint8(n >> 8), uint8(n), 0xff}
}

func countColours(img image.Image) map[color.RGBA]int {
	out := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			out[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	return out
}

// barArea sums width × height of the charts' bars per class.
func barArea(t *testing.T, doc *node) map[string]float64 {
	out := map[string]float64{}
	for _, svg := range doc.all("svg") {
		if svg.attr["class"] != "chart" {
			continue
		}
		for _, r := range svg.all("rect") {
			w, err1 := strconv.ParseFloat(r.attr["width"], 64)
			h, err2 := strconv.ParseFloat(r.attr["height"], 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("rect %v", r.attr)
			}
			out[r.attr["class"]] += w * h
		}
	}
	return out
}
