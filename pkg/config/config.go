// Package config loads roam.toml, partners.csv and tariffs.csv, applies the
// flag > ROAM_* environment > file precedence, and reports every mistake
// with its file, line and field before any work starts.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
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

	"github.com/BurntSushi/toml"

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
	Operator         string
	Currency         string
	PartnersFile     string
	TariffsFile      string
	FeePerSession    money.Micro
	FeePerMinute     money.Micro
	Inbound          string
	Archive          string
	Quarantine       string
	DB               string
	Reports          string
	Publish          string // ftp:// URL or a local folder
	PublishPassword  string
	Partners         *Partners // loaded with NeedParties
	Tariffs          *Tariffs
	PublishIsFTP     bool
	publishRawIsPath bool
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
}

// Flag is the command-line flag name of the setting.
func (s Setting) Flag() string { return strings.ReplaceAll(s.Key, "_", "-") }

// Env is the environment variable of the setting.
func (s Setting) Env() string { return "ROAM_" + strings.ToUpper(s.Key) }

// Settings lists every overridable key of a section.
func Settings(section string) []Setting {
	all := []Setting{
		{"settlement", "operator", "settlement operator's name in reports"},
		{"settlement", "currency", "settlement currency (ISO 4217)"},
		{"settlement", "partners", "partners.csv path"},
		{"settlement", "tariffs", "tariffs.csv path"},
		{"settlement", "fee_per_session", "operator's handling fee per session"},
		{"settlement", "fee_per_minute", "operator's handling fee per minute"},
		{"settlement", "inbound", "folder where batches arrive"},
		{"settlement", "archive", "folder for loaded batches"},
		{"settlement", "quarantine", "folder for rejected batches"},
		{"settlement", "db", "SQLite database path"},
		{"settlement", "reports", "reports folder"},
		{"settlement", "publish", "ftp:// URL or folder to publish to"},
		{"settlement", "publish_password_file", "file holding the FTP password"},
		{"edge", "isp", "sender id: this edge's local ISP"},
		{"edge", "spool", "spool folder"},
		{"edge", "listen", "RADIUS accounting address host:port"},
		{"edge", "stale_after", "close sessions with no record for this long"},
		{"edge", "sweep_every", "how often the listener closes stale sessions"},
		{"edge", "timezone", "IANA time zone of this local ISP"},
		{"edge", "push", "sftp://user@host[:port]/path or folder to push to"},
		{"edge", "known_hosts", "known_hosts file for SFTP host keys"},
		{"edge", "identity", "SSH private key for SFTP"},
		{"edge", "host_key", "pinned SFTP host key (authorized_keys form)"},
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

type fileNAS struct {
	Name       string `toml:"name"`
	Address    string `toml:"address"`
	Secret     string `toml:"secret"`
	SecretFile string `toml:"secret_file"`
}

type fileConfig struct {
	Settlement map[string]string `toml:"settlement"`
	Edge       struct {
		NAS []fileNAS `toml:"nas"`
	} `toml:"edge"`
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)
var nasNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Load reads the configuration file path (it may be missing only when
// allowMissing), applies overrides and checks the sections in need.
func Load(path string, allowMissing bool, overrides []Override, need Need) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		if !(allowMissing && errors.Is(err, os.ErrNotExist)) {
			return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read configuration: %v (give --config or ROAM_CONFIG)", err)}}
		}
		data = nil
	}
	l := &loader{file: path, dir: filepath.Dir(abs), lines: keyLines(data), vals: map[string]value{}}
	l.decode(data)
	if len(l.errs) > 0 {
		return nil, l.errs
	}
	for _, o := range overrides {
		section := ""
		for _, sec := range []string{"settlement", "edge"} {
			for _, s := range Settings(sec) {
				if s.Key == o.Key {
					section = sec
				}
			}
		}
		if section == "" {
			l.errs.add(o.Source, 0, o.Key, "not a setting")
			continue
		}
		l.vals[section+"."+o.Key] = value{v: o.Value, src: o.Source}
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

type value struct {
	v    string
	src  string // "" for the file
	line int
}

type loader struct {
	file  string
	dir   string
	lines map[string]int
	vals  map[string]value
	nas   []fileNAS
	errs  Errors
}

func (l *loader) decode(data []byte) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			l.errs.add(l.file, pe.Position.Line, "", "%s", pe.Message)
		} else {
			l.errs.add(l.file, 0, "", "%v", err)
		}
		return
	}
	for _, k := range md.Keys() {
		if len(k) == 0 {
			continue
		}
		section := k[0]
		if section != "settlement" && section != "edge" {
			if len(k) == 1 {
				l.errs.add(l.file, l.lines[k.String()], k.String(), "unknown section or key (want [settlement] or [edge])")
			}
			continue
		}
		if len(k) == 2 && !(section == "edge" && k[1] == "nas") {
			known := false
			for _, s := range Settings(section) {
				if s.Key == k[1] {
					known = true
				}
			}
			if section == "settlement" && k[1] == "publish_password" {
				known = true
			}
			if section == "edge" && k[1] == "insecure_ignore_host_key" {
				known = true
			}
			if !known {
				l.errs.add(l.file, l.lines[k.String()], k.String(), "unknown key")
				continue
			}
			v := md.Type(k...)
			line := l.lines[k.String()]
			sv, ok := lookup(raw, k).(string)
			if section == "edge" && k[1] == "insecure_ignore_host_key" {
				b, isBool := lookup(raw, k).(bool)
				if !isBool {
					l.errs.add(l.file, line, k.String(), "must be true or false")
				}
				sv, ok = strconv.FormatBool(b), true
			}
			if !ok {
				l.errs.add(l.file, line, k.String(), "must be a quoted string, not a TOML %s", v)
				continue
			}
			l.vals[k.String()] = value{v: sv, line: line}
		}
	}
	if len(l.errs) > 0 {
		return
	}
	var fc fileConfig
	md2, err := toml.Decode(string(data), &fc)
	if err != nil {
		l.errs.add(l.file, 0, "edge.nas", "%v", err)
		return
	}
	l.nas = fc.Edge.NAS
	for _, k := range md2.Undecoded() {
		if len(k) == 3 && k[0] == "edge" && k[1] == "nas" {
			line := 0
			for i := range l.nas {
				if n, ok := l.lines[fmt.Sprintf("edge.nas.%d.%s", i, k[2])]; ok {
					line = n
				}
			}
			l.errs.add(l.file, line, k.String(), "unknown key in [[edge.nas]] (want name, address, secret, secret_file)")
		}
	}
}

func lookup(m map[string]any, k toml.Key) any {
	var cur any = m
	for _, p := range k {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// get returns a setting's value and where it came from, or def.
func (l *loader) get(section, key, def string) (string, func(format string, args ...any)) {
	v, ok := l.vals[section+"."+key]
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
	b, err := os.ReadFile(l.resolve(v))
	if err != nil {
		report("cannot read secret file: %v", err)
		return ""
	}
	return strings.TrimRight(string(b), "\r\n")
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
	pub, report := l.get("settlement", "publish", "")
	if strings.Contains(pub, "://") {
		u, err := url.Parse(pub)
		if err != nil || u.Scheme != "ftp" || u.Host == "" {
			report("%q: want ftp://user@host[:port]/path or a folder", pub)
		}
		s.Publish, s.PublishIsFTP = pub, true
	} else if pub != "" {
		s.Publish = l.resolve(pub)
	}
	inline, reportInline := l.get("settlement", "publish_password", "")
	fromFile := l.secretFile("settlement", "publish_password_file")
	if inline != "" && fromFile != "" {
		reportInline("give publish_password or publish_password_file, not both")
	}
	s.PublishPassword = inline + fromFile
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
		at := func(key string) (int, string) {
			return l.lines[fmt.Sprintf("edge.nas.%d.%s", i, key)], fmt.Sprintf("edge.nas[%d].%s", i, key)
		}
		line, field := at("name")
		if !nasNameRe.MatchString(n.Name) {
			l.errs.add(l.file, line, field, "%q: want letters, digits, . _ -", n.Name)
		} else if prev, dup := names[n.Name]; dup {
			l.errs.add(l.file, line, field, "NAS name %q used twice (also edge.nas[%d])", n.Name, prev)
		}
		names[n.Name] = i
		line, field = at("address")
		addr, err := netip.ParseAddr(n.Address)
		if err != nil {
			l.errs.add(l.file, line, field, "%q is not an IP address", n.Address)
		} else if prev, dup := addrs[addr.Unmap()]; dup {
			l.errs.add(l.file, line, field, "address %s used twice (also edge.nas[%d])", addr, prev)
		}
		addr = addr.Unmap()
		addrs[addr] = i
		secret := n.Secret
		line, field = at("secret_file")
		if n.SecretFile != "" {
			if n.Secret != "" {
				l.errs.add(l.file, line, field, "give secret or secret_file, not both")
			}
			b, err := os.ReadFile(l.resolve(n.SecretFile))
			if err != nil {
				l.errs.add(l.file, line, field, "cannot read secret file: %v", err)
			}
			secret = strings.TrimRight(string(b), "\r\n")
		}
		if secret == "" && !(n.SecretFile != "" && len(l.errs) > 0) {
			line, field = at("secret")
			if line == 0 {
				line, _ = at("name")
			}
			l.errs.add(l.file, line, field, "a non-empty secret or secret_file is needed")
		}
		e.NAS = append(e.NAS, NAS{Name: n.Name, Address: addr, Secret: []byte(secret)})
	}
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

// keyLines maps dotted keys ("edge.stale_after", "edge.nas.0.secret") to
// their line in the TOML text, for messages. It reads only the simple
// forms this file uses: [table], [[array]] and key = value.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	prefix := ""
	arrays := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(s, "[["):
			name := strings.TrimSpace(strings.Trim(strings.SplitN(s, "#", 2)[0], "[] \t"))
			idx := arrays[name]
			arrays[name]++
			prefix = fmt.Sprintf("%s.%d", name, idx)
			lines[prefix] = n
		case strings.HasPrefix(s, "["):
			prefix = strings.TrimSpace(strings.Trim(strings.SplitN(s, "#", 2)[0], "[] \t"))
			if _, ok := lines[prefix]; !ok {
				lines[prefix] = n
			}
		default:
			k, _, ok := strings.Cut(s, "=")
			k = strings.Trim(strings.TrimSpace(k), `"`)
			if !ok || k == "" || strings.HasPrefix(k, "#") {
				continue
			}
			full := k
			if prefix != "" {
				full = prefix + "." + k
			}
			if _, seen := lines[full]; !seen {
				lines[full] = n
			}
		}
	}
	return lines
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
