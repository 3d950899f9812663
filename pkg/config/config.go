// Package config loads roam.toml, partners.csv and tariffs.csv, applies the
// flag > ROAM_* environment > file precedence, and reports every mistake
// with its file, line and field before any work starts.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"

	"roamsettle/pkg/durable"
	"roamsettle/pkg/money"
)

// Config is the checked configuration. Paths are absolute.
type Config struct {
	File       string // the roam.toml read ("" when none)
	Settlement Settlement
	Edge       Edge
}

// Settlement is the central host's section.
type Settlement struct {
	Operator        string
	Currency        string
	PartnersFile    string
	TariffsFile     string
	FeePerSession   money.Micro
	FeePerMinute    money.Micro
	Inbound         string
	Archive         string
	Quarantine      string
	DB              string
	Reports         string
	Publish         string   // ftp:// or ftps:// URL, or a local folder ("" = not set)
	PublishURL      *url.URL // when Publish is a URL
	PublishPassword string
	PublishCAFile   string    // PEM roots for ftps:// ("" = the system's)
	Partners        *Partners // loaded with NeedParties
	Tariffs         *Tariffs
}

// Edge is one local ISP's edge host section.
type Edge struct {
	ISP                   string
	Spool                 string
	Listen                string
	StaleAfter            time.Duration
	SweepEvery            time.Duration
	Timezone              string // IANA zone recorded in spool records; optional
	Push                  string // sftp:// URL or local folder
	PushURL               *url.URL
	KnownHosts            string
	Identity              string
	HostKey               string // pinned host key, authorized_keys form; optional
	InsecureIgnoreHostKey bool
	NAS                   []NAS
}

// NAS is a RADIUS client allowed to send accounting to the listener.
type NAS struct {
	Name    string
	Address netip.Addr
	Secret  []byte
}

// Need says which sections a command uses; only those are checked deeply.
type Need int

const (
	NeedEdge    Need = 1 << iota // [edge]
	NeedCentral                  // [settlement] paths and fees
	NeedParties                  // partners.csv and tariffs.csv
)

// Setting is one key that can also come from a flag or the environment.
type Setting struct {
	Section, Key, Usage string
	EnvOnly             bool // a secret: never a flag (it would show in ps)
}

// Flag is the command-line flag name of the setting. The publish
// destination's is --publish-to: roamreport's --publish is the switch
// that publishes after reporting.
func (s Setting) Flag() string {
	if s.Section == "settlement" && s.Key == "publish" {
		return "publish-to"
	}
	return strings.ReplaceAll(s.Key, "_", "-")
}

// Env is the environment variable of the setting.
func (s Setting) Env() string { return "ROAM_" + strings.ToUpper(s.Key) }

// Settings lists every overridable key of a section.
func Settings(section string) []Setting {
	all := []Setting{
		{"settlement", "operator", "settlement operator's name in reports", false},
		{"settlement", "currency", "settlement currency (ISO 4217)", false},
		{"settlement", "partners", "partners.csv path", false},
		{"settlement", "tariffs", "tariffs.csv path", false},
		{"settlement", "fee_per_session", "operator's handling fee per session", false},
		{"settlement", "fee_per_minute", "operator's handling fee per minute", false},
		{"settlement", "inbound", "folder where batches arrive", false},
		{"settlement", "archive", "folder for loaded batches", false},
		{"settlement", "quarantine", "folder for rejected batches", false},
		{"settlement", "db", "SQLite database path", false},
		{"settlement", "reports", "reports folder", false},
		{"settlement", "publish", "ftp:// or ftps:// URL, or folder, to publish to", false},
		{"settlement", "publish_password_file", "file holding the FTP password", false},
		{"settlement", "publish_password", "FTP password (environment only)", true},
		{"settlement", "publish_ca_file", "PEM file of the CAs an ftps:// server's certificate must chain to (default: the system's)", false},
		{"edge", "isp", "sender id: this edge's local ISP", false},
		{"edge", "spool", "spool folder", false},
		{"edge", "listen", "RADIUS accounting address host:port", false},
		{"edge", "stale_after", "close sessions with no record for this long", false},
		{"edge", "sweep_every", "how often the listener closes stale sessions", false},
		{"edge", "timezone", "IANA time zone of this local ISP", false},
		{"edge", "push", "sftp://user@host[:port]/path or folder to push to", false},
		{"edge", "known_hosts", "known_hosts file for SFTP host keys", false},
		{"edge", "identity", "SSH private key for SFTP", false},
		{"edge", "host_key", "pinned SFTP host key (authorized_keys form)", false},
	}
	var out []Setting
	for _, s := range all {
		if s.Section == section {
			out = append(out, s)
		}
	}
	return out
}

// Override is a value given on the command line or in the environment.
type Override struct {
	Section string // "settlement" or "edge"
	Key     string // setting key, e.g. "stale_after"
	Value   string
	Source  string // "flag --stale-after" or "env ROAM_STALE_AFTER"
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)
var nasNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Load reads the configuration file path (it may be missing only when
// allowMissing), applies overrides and checks the sections in need.
func Load(path string, allowMissing bool, overrides []Override, need Need) (*Config, error) {
	if path == "" { // filepath.Abs would make it the working folder
		return nil, Errors{{File: "--config", Msg: "no configuration file named (--config or ROAM_CONFIG is empty)"}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	data, err := readSmallFile(abs, maxConfigSize)
	if err != nil {
		if !(allowMissing && errors.Is(err, os.ErrNotExist)) {
			return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read configuration: %v (give --config or ROAM_CONFIG)", err)}}
		}
		data = nil
	}
	l := &loader{file: path, dir: filepath.Dir(abs), vals: map[string]value{}, unusable: map[string]bool{}}
	root, errs := readTOML(path, data)
	l.errs = errs
	if root == nil {
		return nil, l.errs // a syntax error: nothing more can be read
	}
	l.schema(root)
	for _, o := range overrides {
		if !isSetting(o.Section, o.Key) {
			l.errs.add(o.Source, 0, joinPath(o.Section, o.Key), "not a setting")
			continue
		}
		l.vals[o.Section+"."+o.Key] = value{v: o.Value, src: o.Source}
	}
	cfg := &Config{}
	if data != nil {
		cfg.File = abs
	}
	if need&(NeedCentral|NeedParties) != 0 {
		l.settlement(&cfg.Settlement, need&NeedParties != 0)
	}
	if need&NeedEdge != 0 {
		l.edge(&cfg.Edge)
	}
	return cfg, l.errs.err()
}

func isSetting(section, key string) bool {
	for _, s := range Settings(section) {
		if s.Key == key {
			return true
		}
	}
	return false
}

// value is one setting as given, with where it came from.
type value struct {
	v    string
	src  string // "" for the file, else the flag or variable
	line int    // in the file
	bad  bool   // not usable (wrong type); the mistake is already reported
}

// fileNAS is one [[edge.nas]] table of the file.
type fileNAS struct {
	line int              // of its [[edge.nas]] header
	keys map[string]value // name, address, secret, secret_file
}

type loader struct {
	file     string
	dir      string
	vals     map[string]value // "edge.stale_after" → value
	nas      []fileNAS
	unusable map[string]bool // sections given in a wrong form, already reported
	errs     Errors
}

// fileOnlyKind gives the TOML type of the keys that only the file may
// set (Settings offers no flag or variable for them).
func fileOnlyKind(field string) (unstable.Kind, bool) {
	switch field {
	case "edge.insecure_ignore_host_key":
		return unstable.Bool, true
	}
	return unstable.Invalid, false
}

func isNASKey(key string) bool {
	switch key {
	case "name", "address", "secret", "secret_file":
		return true
	}
	return false
}

// schema checks the document's keys against what roam.toml may hold and
// keeps the values, each with its line.
func (l *loader) schema(root *tomlNode) {
	for _, name := range root.order {
		n := root.keys[name]
		switch {
		case name != "settlement" && name != "edge":
			l.errs.add(l.file, n.line, joinPath("", name), "unknown section or key (want [settlement] or [edge])")
		case n.kind != tableNode:
			if !n.clash {
				l.errs.add(l.file, n.line, name, "must be the table [%s], not %s", name, n.typeName())
			}
			l.unusable[name] = true
		default:
			l.section(name, n)
		}
	}
}

func (l *loader) section(section string, t *tomlNode) {
	for _, key := range t.order {
		n := t.keys[key]
		field := joinPath(section, key)
		if field == "edge.nas" {
			l.nasList(n)
			continue
		}
		want, fileKey := fileOnlyKind(field)
		switch {
		case !fileKey && !isSetting(section, key):
			if n.kind == tableNode && (n.how == headerTable || n.how == implicitTable) {
				l.errs.add(l.file, n.line, field, "unknown table")
			} else {
				l.errs.add(l.file, n.line, field, "unknown key")
			}
		case n.clash:
			l.vals[field] = value{line: n.line, bad: true}
		case want == unstable.Bool && !n.is(unstable.Bool):
			l.errs.add(l.file, n.line, field, "must be true or false, not %s", n.typeName())
			l.vals[field] = value{line: n.line, bad: true}
		case want != unstable.Bool && !n.is(unstable.String):
			l.errs.add(l.file, n.line, field, "must be a quoted string, not %s", n.typeName())
			l.vals[field] = value{line: n.line, bad: true}
		default:
			l.vals[field] = value{v: n.str, line: n.line}
		}
	}
}

// nasList reads the [[edge.nas]] tables.
func (l *loader) nasList(n *tomlNode) {
	if n.kind != arrayTableNode {
		if !n.clash {
			l.errs.add(l.file, n.line, "edge.nas", "want one [[edge.nas]] table per NAS, not %s", n.typeName())
		}
		return
	}
	for i, el := range n.elems {
		fn := fileNAS{line: el.line, keys: map[string]value{}}
		for _, key := range el.order {
			c := el.keys[key]
			field := joinPath(fmt.Sprintf("edge.nas[%d]", i), key)
			switch {
			case !isNASKey(key):
				l.errs.add(l.file, c.line, field, "unknown key in [[edge.nas]] (want name, address, secret, secret_file)")
			case c.clash:
				fn.keys[key] = value{line: c.line, bad: true}
			case !c.is(unstable.String):
				l.errs.add(l.file, c.line, field, "must be a quoted string, not %s", c.typeName())
				fn.keys[key] = value{line: c.line, bad: true}
			default:
				fn.keys[key] = value{v: c.str, line: c.line}
			}
		}
		l.nas = append(l.nas, fn)
	}
}

// get returns a setting's value and where it came from, or def.
func (l *loader) get(section, key, def string) (string, func(format string, args ...any)) {
	v, ok := l.vals[section+"."+key]
	if v.bad || (!ok && l.unusable[section]) {
		// The file gave a wrong type or a broken section, already
		// reported: check the default quietly so one mistake does not
		// read as two.
		return def, func(string, ...any) {}
	}
	if !ok {
		v = value{v: def}
	}
	field := section + "." + key
	report := func(format string, args ...any) {
		if v.src != "" {
			l.errs.add(v.src, 0, field, format, args...)
			return
		}
		line := v.line
		if !ok {
			line = 0
		}
		l.errs.add(l.file, line, field, format, args...)
	}
	return v.v, report
}

// path resolves a path setting against the config file's folder.
func (l *loader) path(section, key, def string) string {
	v, _ := l.get(section, key, def)
	return l.resolve(v)
}

func (l *loader) resolve(v string) string {
	if v == "" {
		return ""
	}
	if strings.HasPrefix(v, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			v = filepath.Join(home, v[2:])
		}
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(l.dir, v)
	}
	return filepath.Clean(v)
}

func (l *loader) secretFile(section, key string) string {
	v, report := l.get(section, key, "")
	if v == "" {
		return ""
	}
	secret, err := ReadSecretFile(l.resolve(v))
	if err != nil {
		report("cannot read secret file: %v", err)
		return ""
	}
	return secret
}

// ReadSecretFile reads a password file: a regular file of at most 64 KiB
// (a FIFO or a device is refused, never waited on), its line ending
// dropped.
func ReadSecretFile(path string) (string, error) {
	b, err := readSmallFile(path, maxSecretSize)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Bounds of what the configuration reads: a path pointing at a device, a
// FIFO or a huge file is a mistake, never a hang or a huge read.
const (
	maxConfigSize = 1 << 20
	maxSecretSize = 64 << 10
	maxTableSize  = 64 << 20 // partners.csv, tariffs.csv
)

// readSmallFile reads a regular file of at most limit bytes. It opens
// without blocking (a FIFO with no writer would block open(2)) and checks
// the file's kind before reading.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := durable.OpenRegular(path, true, "never read (a configuration file is a regular file)")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s has %d bytes, more than the %d a configuration file may have", path, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s has more than %d bytes", path, limit)
	}
	return b, err
}

// publishTarget reads a publish destination: an ftp:// or ftps:// URL, or
// a folder (resolved against the config file's).
func (l *loader) publishTarget(section, key string) (string, *url.URL) {
	v, report := l.get(section, key, "")
	if !strings.Contains(v, "://") {
		return l.resolve(v), nil
	}
	u, err := ParsePublishURL(v)
	if err != nil {
		report("%v", err)
		return v, nil
	}
	return v, u
}

// ParsePublishURL checks an ftp://user@host[:port]/path or ftps:// URL.
func ParsePublishURL(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "ftp" && u.Scheme != "ftps") || u.Host == "" || u.User == nil || u.User.Username() == "" {
		return nil, fmt.Errorf("%q: want ftp://user@host[:port]/path, ftps://user@host[:port]/path or a folder", v)
	}
	if _, set := u.User.Password(); set {
		return nil, fmt.Errorf("%q: no password in the URL (give publish_password_file)", v)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port %q is not 1-65535", v, p)
		}
	}
	return u, nil
}

func (l *loader) settlement(s *Settlement, parties bool) {
	s.Operator, _ = l.get("settlement", "operator", "Roam Clearing")
	cur, report := l.get("settlement", "currency", "USD")
	if !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(cur) {
		report("%q is not a three-letter currency code", cur)
	}
	s.Currency = cur
	for _, f := range []struct {
		key, def string
		dst      *money.Micro
	}{{"fee_per_session", "0", &s.FeePerSession}, {"fee_per_minute", "0", &s.FeePerMinute}} {
		v, report := l.get("settlement", f.key, f.def)
		m, err := money.ParseMicro(v)
		if err != nil {
			report("%v", err)
		}
		*f.dst = m
	}
	s.Inbound = l.path("settlement", "inbound", "inbound")
	s.Archive = l.path("settlement", "archive", "archive")
	s.Quarantine = l.path("settlement", "quarantine", "quarantine")
	s.DB = l.path("settlement", "db", "roam.db")
	s.Reports = l.path("settlement", "reports", "reports")
	s.PartnersFile = l.path("settlement", "partners", "partners.csv")
	s.TariffsFile = l.path("settlement", "tariffs", "tariffs.csv")
	s.Publish, s.PublishURL = l.publishTarget("settlement", "publish")
	s.PublishCAFile = l.path("settlement", "publish_ca_file", "")
	pw, reportPW := l.get("settlement", "publish_password", "")
	if l.vals["settlement.publish_password"].src != "" {
		s.PublishPassword = pw // ROAM_PUBLISH_PASSWORD wins over the file's
	} else {
		fromFile := l.secretFile("settlement", "publish_password_file")
		if pw != "" && fromFile != "" {
			reportPW("give publish_password or publish_password_file, not both")
		}
		s.PublishPassword = pw + fromFile
	}
	if parties {
		p, err := LoadPartners(s.PartnersFile)
		if err != nil {
			l.errs = append(l.errs, asErrors(err)...)
			return
		}
		s.Partners = p
		t, err := LoadTariffs(s.TariffsFile, p)
		if err != nil {
			l.errs = append(l.errs, asErrors(err)...)
			return
		}
		s.Tariffs = t
	}
}

func asErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	return Errors{{Msg: err.Error()}}
}

func (l *loader) edge(e *Edge) {
	isp, report := l.get("edge", "isp", "")
	if !idRe.MatchString(isp) {
		report("%q: the sender id must be a partner id (letters, digits, _)", isp)
	}
	e.ISP = isp
	e.Spool = l.path("edge", "spool", "spool")
	listen, report := l.get("edge", "listen", "127.0.0.1:1813")
	if _, port, err := net.SplitHostPort(listen); err != nil || port == "" {
		report("%q: want host:port, e.g. 127.0.0.1:1813", listen)
	} else if !validPort(port) {
		report("%q: the port must be a number from 1 to 65535", listen)
	}
	e.Listen = listen
	e.StaleAfter = l.duration("stale_after", "6h")
	e.SweepEvery = l.duration("sweep_every", "1m")
	tz, report := l.get("edge", "timezone", "")
	if tz != "" {
		if _, err := loadZone(tz); err != nil {
			report("%q is not an IANA time zone", tz)
		}
	}
	e.Timezone = tz
	push, report := l.get("edge", "push", "outbox")
	if strings.Contains(push, "://") {
		u, err := url.Parse(push)
		if err != nil || u.Scheme != "sftp" || u.Host == "" || u.User == nil || u.User.Username() == "" {
			report("%q: want sftp://user@host[:port]/path or a folder", push)
		} else if _, hasPw := u.User.Password(); hasPw {
			report("passwords in the push URL are not accepted; use an SSH key")
		}
		e.Push, e.PushURL = push, u
	} else {
		e.Push = l.resolve(push)
	}
	e.KnownHosts = l.path("edge", "known_hosts", "~/.ssh/known_hosts")
	e.Identity = l.path("edge", "identity", "~/.ssh/id_ed25519")
	e.HostKey, _ = l.get("edge", "host_key", "")
	ins, _ := l.get("edge", "insecure_ignore_host_key", "false")
	e.InsecureIgnoreHostKey = ins == "true"
	names := map[string]int{}
	addrs := map[netip.Addr]int{}
	for i, n := range l.nas {
		report := func(key, format string, args ...any) {
			line := n.line // a missing key is placed at its [[edge.nas]]
			if v, ok := n.keys[key]; ok {
				line = v.line
			}
			l.errs.add(l.file, line, fmt.Sprintf("edge.nas[%d].%s", i, key), format, args...)
		}
		name, hasName := n.keys["name"]
		address, hasAddress := n.keys["address"]
		if !hasName {
			report("name", "missing: every [[edge.nas]] needs a name")
		} else if !name.bad {
			if !nasNameRe.MatchString(name.v) {
				report("name", "%q: want letters, digits, . _ -", name.v)
			} else if prev, dup := names[name.v]; dup {
				report("name", "NAS name %q used twice (also edge.nas[%d])", name.v, prev)
			}
			names[name.v] = i
		}
		var addr netip.Addr
		if !hasAddress {
			report("address", "missing: every [[edge.nas]] needs the address its packets come from")
		} else if !address.bad {
			a, err := netip.ParseAddr(address.v)
			if err != nil {
				report("address", "%q is not an IP address", address.v)
			} else if prev, dup := addrs[a.Unmap()]; dup {
				report("address", "address %s used twice (also edge.nas[%d])", a, prev)
			}
			addr = a.Unmap()
			addrs[addr] = i
		}
		secret := l.nasSecret(n, report)
		e.NAS = append(e.NAS, NAS{Name: name.v, Address: addr, Secret: []byte(secret)})
	}
}

// nasSecret is the NAS's shared secret, from secret or secret_file.
func (l *loader) nasSecret(n fileNAS, report func(key, format string, args ...any)) string {
	inline, file := n.keys["secret"], n.keys["secret_file"]
	if inline.bad || file.bad {
		return ""
	}
	if file.v == "" {
		if inline.v == "" {
			report("secret", "a non-empty secret or secret_file is needed")
		}
		return inline.v
	}
	if inline.v != "" {
		report("secret_file", "give secret or secret_file, not both")
	}
	b, err := readSmallFile(l.resolve(file.v), maxSecretSize)
	if err != nil {
		report("secret_file", "cannot read secret file: %v", err)
		return ""
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		report("secret_file", "the secret file is empty")
	}
	return secret
}

// validPort accepts a decimal port 1..65535. Port 0 (any free port) is
// refused: a NAS must be told the port, so it cannot change between runs.
func validPort(s string) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func (l *loader) duration(key, def string) time.Duration {
	v, report := l.get("edge", key, def)
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		report("%q is not a positive duration such as 90s, 6h or 30d", v)
	}
	return d
}

// ParseDuration is time.ParseDuration plus a "d" (24 h) unit, e.g. "30d".
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// SortedNAS returns NAS names sorted, for stable listings.
func (e *Edge) SortedNAS() []string {
	var out []string
	for _, n := range e.NAS {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}
