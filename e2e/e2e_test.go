package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	_ "time/tzdata" // the expected local times do not depend on the host's zone files

	"roamsettle/internal/freeradiustest"
	"roamsettle/internal/sshdtest"
	"roamsettle/internal/testbin"
	"roamsettle/internal/vsftpdtest"
	"roamsettle/pkg/spool"
)

const nasSecret = "e2e-nas-secret"

// TestEndToEnd: traffic from three edges to the ISPs' own FTP folders,
// every amount checked against the test's own figures (package doc).
func TestEndToEnd(t *testing.T) {
	if time.Now().Before(periodEnd.AddDate(0, 0, 1)) {
		// roamclean would reject every record as FUTURE_EVENT.
		t.Fatalf("the clock says %s; the traffic of %s needs a clock past its end", time.Now().UTC().Format(time.DateOnly), period)
	}
	radclient := testbin.Require(t, "radclient", "/usr/bin/radclient")
	curl := testbin.Require(t, "curl", "/usr/bin/curl")
	ids := make([]string, len(partners))
	for i, p := range partners {
		ids[i] = p.id
	}
	began := time.Now()
	lap := func(what string) { t.Logf("%s: %.2fs", what, time.Since(began).Seconds()); began = time.Now() }
	for _, name := range []string{"roamcollect", "roamload", "roamclean", "roamreport"} {
		testbin.Command(t, name)
	}
	lap("build")
	sshd := sshdtest.Start(t)
	// Five ISPs download at once, a data connection per file: room for them.
	ftp := vsftpdtest.Start(t, vsftpdtest.Options{TLS: true, ISPs: ids, PassivePorts: 48})
	radiusd := freeradiustest.Start(t)
	lap("servers")

	central := writeCentral(t, sshd, ftp)
	sessions := traffic()

	// Edges ISPA and ISPB: radclient -> roamcollect listen. Edge ISPC:
	// radclient -> FreeRADIUS -> detail file -> roamcollect import.
	sent := 0
	var listeners []*listener
	for _, isp := range []string{"ISPA", "ISPB"} {
		l := startListener(t, writeEdge(t, isp, sshd, central.inbound, "127.0.0.1"))
		listeners = append(listeners, l)
		l.input = radclientInput(sessions, isp, "192.0.2.1")
		send(t, radclient, l.edge.listen, nasSecret, l.input)
		sent += packets(l.input)
	}
	ispc := writeEdge(t, "ISPC", sshd, central.inbound, "192.0.2.30")
	input := radclientInput(sessions, "ISPC", "192.0.2.30")
	send(t, radclient, radiusd.Addr, freeradiustest.Secret, input)
	sent += packets(input)
	run(t, 0, "roamcollect", "--config", ispc.cfg, "import", radiusd.Detail)
	// A listener's closed sessions reach ready/ at its next checkpoint,
	// about a second after the answers (docs/listen.md).
	for _, l := range listeners {
		waitReady(t, l.edge, packets(l.input))
	}
	lap("traffic")

	// Push while the listeners run, as from cron; then stop them.
	for _, e := range []*edge{listeners[0].edge, listeners[1].edge, ispc} {
		if out := run(t, 0, "roamcollect", "--config", e.cfg, "push"); !strings.Contains(out, "batch 1") {
			t.Errorf("%s push: no batch 1:\n%s", e.isp, out)
		}
	}
	for _, l := range listeners {
		l.stop(t)
	}

	run(t, 0, "roamload", "--config", central.cfg)
	// The unknown realm is rejected: done, but a person should look (3).
	// Every request answered is in the central store, nothing lost.
	out := run(t, 3, "roamclean", "--config", central.cfg)
	if want := fates(sessions); !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("records %d,", sent)) {
		t.Errorf("roamclean: want %d records, %s:\n%s", sent, want, out)
	}
	if out := run(t, 0, "roamreport", "--config", central.cfg, "--period", period, "--publish"); !strings.Contains(out, "published=5") {
		t.Errorf("roamreport --publish did not publish 5 ISPs:\n%s", out)
	}

	var charges []charge
	for _, s := range sessions {
		if s.rated() {
			charges = append(charges, rateSession(s))
		}
	}
	// The traffic must keep exercising every tariff row and half-up ties.
	used, ties := make([]int, len(tariffs)), 0
	for _, c := range charges {
		used[c.row]++
		ties += c.ties
	}
	t.Logf("%d sessions generated, %d rated in %s; sessions per tariff row %v, %d half-cent ties", len(sessions), len(charges), period, used, ties)
	if slices.Contains(used, 0) || ties == 0 {
		t.Errorf("sessions per tariff row %v, %d half-cent ties: the traffic no longer exercises the tariffs", used, ties)
	}

	// Each ISP downloads its folder with curl on its own account.
	lap("pipeline")
	downloads := make([]fetched, len(partners))
	var wg sync.WaitGroup
	for i, p := range partners {
		dir := t.TempDir()
		wg.Go(func() { downloads[i] = download(curl, ftp, p.id, dir) })
	}
	wg.Wait()
	lap("downloads")
	var nets int64
	rejects := ""
	for i, p := range partners {
		got := check(t, downloads[i])
		if p.id == "ISPB" {
			rejects = got.files["ISPB_"+period+"_REJECTS.csv"]
		}
		want := expect(charges, p.id)
		for name, text := range want.files {
			if got.files[name] != text {
				t.Errorf("%s/%s:\n%s", p.id, name, diff(got.files[name], text))
			}
		}
		for _, line := range want.totals {
			if !slices.Contains(got.manifest, line) {
				t.Errorf("%s/MANIFEST lacks %q", p.id, line)
			}
		}
		nets += netOf(t, p.id, got.files["creditdebit.csv"])
	}

	// All nets plus all fees are zero, and the operator's own file says so.
	var fees int64
	for _, c := range charges {
		fees += c.fee
	}
	if nets+fees != 0 {
		t.Errorf("nets %s + fees %s = %s, want 0.00", money(nets), money(fees), money(nets+fees))
	}
	op, err := os.ReadFile(filepath.Join(central.dir, "reports", period, "operator", "creditdebit.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := operatorCreditDebit(charges); string(op) != want {
		t.Errorf("operator/creditdebit.csv:\n%s", diff(string(op), want))
	}
	// The rejected records went back to their sender with its reports.
	if strings.Count(rejects, "lost@nowhere.example") != 2 || strings.Count(rejects, "UNKNOWN_REALM") != 2 {
		t.Errorf("ISPB's REJECTS file lacks lost@nowhere.example:\n%s", rejects)
	}
	run(t, 0, "roamreport", "--config", central.cfg, "verify", "--period", period)
	checkStatus(t, central.cfg)

	// Every stage run again changes nothing: no new records, no batch, no
	// revision, nothing sent.
	for _, c := range []struct {
		code int
		args []string
		want string
	}{
		{0, []string{"roamcollect", "--config", ispc.cfg, "import", radiusd.Detail}, "imported 0"},
		{0, []string{"roamcollect", "--config", ispc.cfg, "push"}, "nothing to push"},
		{0, []string{"roamload", "--config", central.cfg}, "batches 0"},
		{0, []string{"roamclean", "--config", central.cfg}, "records 0,"},
		{0, []string{"roamreport", "--config", central.cfg, "--period", period, "--publish"}, "unchanged=5"},
	} {
		if out := run(t, c.code, c.args[0], c.args[1:]...); !strings.Contains(out, c.want) {
			t.Errorf("%s run again: no %q:\n%s", strings.Join(c.args, " "), c.want, out)
		}
	}
}

// fates is the part of roamclean's summary line that says what became of
// every record (DESIGN.md's cleaning rules, in order): each resent Stop a
// DUPLICATE; the records of a realm of no partner rejected, of a user at
// its own ISP or of a session of no length irrelevant; interim updates
// SUPERSEDED; a Start and a Stop the records of each session.
func fates(sessions []session) string {
	var dup, rejected, homeLocal, zero, superseded, sessionRecs, added int
	for _, s := range sessions {
		n := 1 // the Stop
		if !s.noStart {
			n++
		}
		if s.resend {
			dup++
		}
		switch {
		case s.home == "":
			rejected += n
			if s.interim {
				rejected++
			}
		case s.home == s.edge:
			homeLocal += n
			if s.interim {
				homeLocal++
			}
		case s.dur == 0:
			zero += n
		default:
			sessionRecs += n
			added++
			if s.interim {
				superseded++
			}
		}
	}
	return fmt.Sprintf("session_records %d, duplicates %d, irrelevant %d, rejected %d, reclassified 0, sessions_added %d, sessions_changed 0, sessions_removed 0, "+
		"reason_duplicate %d, reason_home_is_local %d, reason_session %d, reason_superseded %d, reason_unknown_realm %d, reason_zero_duration %d",
		sessionRecs, dup, homeLocal+zero+superseded, rejected, added, dup, homeLocal, sessionRecs, superseded, rejected, zero)
}

// checkStatus: roamreport status records every ISP's set where it went,
// ISPE's on its own account, the others' under the shared one.
func checkStatus(t *testing.T, cfg string) {
	t.Helper()
	out, err := exec.Command(testbin.Command(t, "roamreport"), "--config", cfg, "status", "--json").Output()
	if err != nil {
		t.Fatalf("roamreport status --json: %v", err)
	}
	var st struct {
		Periods []struct {
			Period    string
			Revisions []struct {
				Published []struct {
					ISP, Destination, Folder string
				}
				NotPublished []string `json:"not_published"`
			}
		}
	}
	if err := json.Unmarshal(out, &st); err != nil || len(st.Periods) != 1 || len(st.Periods[0].Revisions) != 1 {
		t.Fatalf("roamreport status --json: %v\n%s", err, out)
	}
	rev := st.Periods[0].Revisions[0]
	if len(rev.Published) != len(partners) || len(rev.NotPublished) != 0 {
		t.Errorf("status: published %+v, not published %v", rev.Published, rev.NotPublished)
	}
	for _, p := range rev.Published {
		account, folder := "//operator@", p.ISP+"/"+period
		if p.ISP == "ISPE" {
			account, folder = "//ISPE@", period
		}
		if !strings.Contains(p.Destination, account) || p.Folder != folder {
			t.Errorf("status: %s published to %s folder %s, want account %s folder %s", p.ISP, p.Destination, p.Folder, account, folder)
		}
	}
}

// run runs one of the binaries and fails the test unless it exits with
// code; it returns stderr (the log and summary line).
func run(t *testing.T, code int, name string, args ...string) string {
	t.Helper()
	testbin.Command(t, name) // built before the clock starts
	began := time.Now()
	got, out := testbin.Run(t, name, nil, args...)
	t.Logf("%s %s: %.2fs", name, strings.Join(args[2:], " "), time.Since(began).Seconds())
	if got != code {
		t.Fatalf("%s %s: exit %d, want %d\n%s", name, strings.Join(args, " "), got, code, out)
	}
	return out
}

type centralHost struct {
	dir, cfg, inbound string
}

// writeCentral writes the central host: roam.toml publishing to the
// shared FTPS account, partners.csv (ISPE on its own account) and
// tariffs.csv.
func writeCentral(t *testing.T, sshd *sshdtest.Server, ftp *vsftpdtest.Server) centralHost {
	t.Helper()
	dir := t.TempDir()
	c := centralHost{dir: dir, cfg: filepath.Join(dir, "roam.toml"), inbound: filepath.Join(dir, "inbound")}
	write(t, filepath.Join(dir, "ftp.pw"), ftp.Operator.Password+"\n", 0o600)
	write(t, filepath.Join(dir, "ispe.pw"), ftp.ISP["ISPE"].Password+"\n", 0o600)
	write(t, c.cfg, fmt.Sprintf(`[settlement]
operator = "Roam Clearing"
currency = "USD"
fee_per_session = %q
fee_per_minute = %q
inbound = "inbound"
db = "db/roam.db"
reports = "reports"
publish = %q
publish_password_file = "ftp.pw"
publish_ca_file = %q
`, feePerSession, feePerMinute, ftp.URL(ftp.Operator, "").String(), ftp.CAFile), 0o644)
	var b strings.Builder
	b.WriteString("id,name,country,realms,timezone,publish,publish_password_file\n")
	for _, p := range partners {
		var pub, pw string
		if p.id == "ISPE" {
			pub, pw = ftp.URL(ftp.ISP["ISPE"], "").String(), "ispe.pw"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s\n", p.id, p.name, p.country, p.realms, p.zone, pub, pw)
	}
	write(t, filepath.Join(dir, "partners.csv"), b.String(), 0o644)
	b.Reset()
	b.WriteString("local,home,valid_from,days,hours,provider_rate,consumer_rate,increment,minimum\n")
	for _, r := range tariffs {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%d,%d\n", r.local, r.home, r.validFrom, r.days, r.hours, r.provider, r.consumer, r.increment, r.minimum)
	}
	write(t, filepath.Join(dir, "tariffs.csv"), b.String(), 0o644)
	if err := os.Mkdir(c.inbound, 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

type edge struct {
	isp, dir, cfg string
	listen        string // host:port of its listener
}

// writeEdge writes one edge host's roam.toml: its own spool, one NAS,
// pushing over SFTP to the central inbound folder with a pinned host key
// file and its own client key.
func writeEdge(t *testing.T, isp string, sshd *sshdtest.Server, inbound, nasAddr string) *edge {
	t.Helper()
	dir := t.TempDir()
	e := &edge{isp: isp, dir: dir, cfg: filepath.Join(dir, "roam.toml"), listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(testbin.FreeUDPPort(t)))}
	write(t, e.cfg, fmt.Sprintf(`[edge]
isp = %q
spool = "spool"
listen = %q
timezone = %q
push = %q
known_hosts = %q
identity = %q

[[edge.nas]]
name = "nas-%s"
address = %q
secret = %q
`, isp, e.listen, partnerByID(isp).zone, sshd.URL(inbound).String(), sshd.KnownHosts, sshd.ClientKey,
		strings.ToLower(isp), nasAddr, nasSecret), 0o600)
	return e
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

type listener struct {
	edge   *edge
	input  [4]string // the radclient rounds it was sent
	cmd    *exec.Cmd
	stderr *testbin.Output
	done   chan error
}

// startListener runs roamcollect listen and waits until it listens.
func startListener(t *testing.T, e *edge) *listener {
	t.Helper()
	l := &listener{edge: e, stderr: &testbin.Output{}, done: make(chan error, 1)}
	l.cmd = exec.Command(testbin.Command(t, "roamcollect"), "--config", e.cfg, "listen")
	l.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.dir}
	l.cmd.Stderr = l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { l.done <- l.cmd.Wait() }()
	t.Cleanup(func() {
		l.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("%s listen:\n%s", e.isp, l.stderr.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.stderr.String(), "listening for RADIUS accounting") {
		select {
		case err := <-l.done:
			t.Fatalf("%s listen exited: %v\n%s", e.isp, err, l.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s listen did not start:\n%s", e.isp, l.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return l
}

// stop ends the listener with SIGTERM and wants exit 0.
func (l *listener) stop(t *testing.T) {
	t.Helper()
	l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("%s listen: %v\n%s", l.edge.isp, err, l.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s listen did not stop on SIGTERM", l.edge.isp)
	}
}

// send sends each round of requests with one radclient run, every request
// answered (radclient exits non-zero when one is not), before the next.
func send(t *testing.T, radclient, addr, secret string, rounds [4]string) {
	t.Helper()
	for i, input := range rounds {
		if input == "" {
			continue
		}
		f := filepath.Join(t.TempDir(), fmt.Sprintf("round%d.txt", i))
		write(t, f, input, 0o644)
		out, err := exec.Command(radclient, "-f", f, "-q", "-p", "16", "-t", "3", "-r", "3", addr, "acct", secret).CombinedOutput()
		if err != nil {
			t.Fatalf("radclient round %d to %s: %v\n%s", i, addr, err, out)
		}
	}
}

// packets counts the requests of radclient input.
func packets(rounds [4]string) int {
	n := 0
	for _, r := range rounds {
		n += strings.Count(r, "Acct-Status-Type = ")
	}
	return n
}

// waitReady polls until the edge's ready/ holds n records.
func waitReady(t *testing.T, e *edge, n int) {
	t.Helper()
	l := spool.Layout{Root: filepath.Join(e.dir, "spool")}
	deadline := time.Now().Add(15 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(l.Ready(), "*.sess"))
		got := 0
		for _, name := range names {
			recs, err := spool.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			got += len(recs)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ready/ holds %d records after 15 s, want %d", e.isp, got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetched is what an ISP downloaded: its folder's listing and files.
type fetched struct {
	isp     string
	listing []string
	dir     string // the files, MANIFEST among them
	err     error
}

// download fetches an ISP's period folder as the ISP would, with curl on
// its own account over FTPS: the listing, then the MANIFEST and every file
// listed, on one connection. It makes no test calls, so the ISPs can
// download at once (each transfer waits about 0.2 s on the server).
func download(curl string, ftp *vsftpdtest.Server, isp, dir string) fetched {
	f := fetched{isp: isp, dir: dir}
	acct := ftp.ISP[isp]
	base := fmt.Sprintf("ftp://%s/%s/", ftp.Addr(), period)
	do := func(args ...string) []byte {
		if f.err != nil {
			return nil
		}
		// --fail-early: with several URLs, curl otherwise exits with the last
		// transfer's status only, and a failed one leaves no file and no error.
		cmd := exec.Command(curl, append([]string{"--silent", "--show-error", "--fail", "--fail-early", "--ssl-reqd", "--cacert", ftp.CAFile,
			"--user", acct.User + ":" + acct.Password}, args...)...)
		cmd.Dir = dir
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			f.err = fmt.Errorf("curl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	f.listing = strings.Fields(string(do("--list-only", base)))
	var args []string
	for _, name := range f.listing {
		if strings.ContainsAny(name, "/\x00") || name == ".." {
			f.err = fmt.Errorf("listing holds %q", name)
			return f
		}
		args = append(args, "--output", name, base+name)
	}
	if len(args) > 0 {
		do(args...)
	}
	return f
}

// received is an ISP's download, checked: every file its MANIFEST lists,
// with the right SHA-256 and size, and nothing else in the folder.
type received struct {
	files    map[string]string
	manifest []string
}

func check(t *testing.T, f fetched) received {
	t.Helper()
	if f.err != nil {
		t.Fatalf("%s: %v", f.isp, f.err)
	}
	r := received{files: map[string]string{}}
	manifest, err := os.ReadFile(filepath.Join(f.dir, "MANIFEST"))
	if err != nil {
		t.Fatalf("%s: %v (listing %v)", f.isp, err, f.listing)
	}
	type entry struct {
		sum  string
		size int
	}
	listed := map[string]entry{}
	sc := bufio.NewScanner(strings.NewReader(string(manifest)))
	for sc.Scan() {
		r.manifest = append(r.manifest, sc.Text())
		if w := strings.Fields(sc.Text()); len(w) == 4 && w[0] == "file" {
			size, _ := strconv.Atoi(w[2])
			listed[w[3]] = entry{w[1], size}
		}
	}
	if len(listed) == 0 || r.manifest[len(r.manifest)-1] != "end" {
		t.Fatalf("%s: MANIFEST is not whole:\n%s", f.isp, manifest)
	}
	names := append(slices.Sorted(maps.Keys(listed)), "MANIFEST")
	slices.Sort(names)
	if !slices.Equal(slices.Sorted(slices.Values(f.listing)), names) {
		t.Errorf("%s: the server's folder holds %v; the MANIFEST lists %v", f.isp, f.listing, names)
	}
	for name, e := range listed {
		data, err := os.ReadFile(filepath.Join(f.dir, name))
		if err != nil {
			t.Errorf("%s: %v", f.isp, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.sum || len(data) != e.size {
			t.Errorf("%s/%s: SHA-256 %x, %d bytes; MANIFEST says %s, %d", f.isp, name, sum, len(data), e.sum, e.size)
		}
		r.files[name] = string(data)
	}
	return r
}

// netOf is the net of the TOTAL row of an ISP's creditdebit.csv, in cents.
func netOf(t *testing.T, isp, creditdebit string) int64 {
	t.Helper()
	for _, line := range strings.Split(creditdebit, "\n") {
		f := strings.Split(line, ",")
		if len(f) == 5 && f[0] == isp && f[1] == "TOTAL" {
			return parseCents(t, f[4])
		}
	}
	t.Fatalf("%s: creditdebit.csv has no TOTAL row:\n%s", isp, creditdebit)
	return 0
}

func parseCents(t *testing.T, s string) int64 {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	whole, frac, ok := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 2 || err1 != nil || err2 != nil {
		t.Fatalf("%q is not an amount with two decimals", s)
	}
	if neg {
		return -(w*100 + f)
	}
	return w*100 + f
}

// operatorCreditDebit is operator/creditdebit.csv: every ISP with a
// session, the operator's fees, and a TOTAL whose net is 0.00.
func operatorCreditDebit(charges []charge) string {
	var b strings.Builder
	b.WriteString("isp,credit,debit,net\n")
	var credit, debit, fees int64
	for _, p := range partners {
		var cr, db int64
		seen := false
		for _, c := range charges {
			if c.s.edge == p.id {
				cr, seen = cr+c.provider, true
			}
			if c.s.home == p.id {
				db, seen = db+c.provider+c.fee, true
			}
		}
		if seen {
			fmt.Fprintf(&b, "%s,%s,%s,%s\n", p.id, money(cr), money(db), money(cr-db))
			credit, debit = credit+cr, debit+db
		}
	}
	for _, c := range charges {
		fees += c.fee
	}
	fmt.Fprintf(&b, "OPERATOR_FEES,%s,0.00,%s\n", money(fees), money(fees))
	fmt.Fprintf(&b, "TOTAL,%s,%s,%s\n", money(credit+fees), money(debit), money(credit+fees-debit))
	return b.String()
}

// diff shows the first line where got and want part.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d: got  %q\n         want %q\n(%d lines, want %d)", i+1, gl, wl, len(g)-1, len(w)-1)
		}
	}
	return "same"
}
