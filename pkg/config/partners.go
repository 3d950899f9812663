package config

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Partner is one ISP of the roaming group (a row of partners.csv).
type Partner struct {
	ID       string
	Name     string
	Country  string
	Realms   []string // lower case
	Timezone *time.Location
	Line     int
	// Publish is this ISP's own destination (its account and home folder
	// on the FTP server), when it has one: a URL or a folder. Its files
	// then go to <path>/<PERIOD>/ there instead of <publish>/<ISP>/<PERIOD>/.
	Publish             string
	PublishURL          *url.URL
	PublishPasswordFile string // read when publishing
}

// Partners is partners.csv, in file order, with a realm index.
type Partners struct {
	List    []*Partner
	byID    map[string]*Partner
	byRealm map[string]*Partner
}

// ByID returns the partner with that id.
func (p *Partners) ByID(id string) (*Partner, bool) {
	x, ok := p.byID[id]
	return x, ok
}

// ByRealm returns the partner owning realm, compared case-insensitively.
func (p *Partners) ByRealm(realm string) (*Partner, bool) {
	x, ok := p.byRealm[strings.ToLower(realm)]
	return x, ok
}

// idPattern is what a partner id (and so a batch sender id) may look like:
// it appears in file names and FTP paths.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// OperatorDir is the folder of the operator's own files beside the
// partners' in a reported period (pkg/report), so no partner id: in any
// case, for folders that do not tell case apart.
const OperatorDir = "operator"

var (
	partnerColumns = []string{"id", "name", "country", "realms", "timezone"}
	// Optional: for ISPs with their own FTP account.
	partnerOptional = []string{"publish", "publish_password_file"}
)

// LoadPartners reads and checks partners.csv.
func LoadPartners(path string) (*Partners, error) {
	data, err := readSmallFile(path, maxTableSize)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	p, err := ParsePartners(bytes.NewReader(data), path)
	if p != nil {
		for _, x := range p.List {
			if x.Publish != "" && x.PublishURL == nil && !filepath.IsAbs(x.Publish) {
				x.Publish = filepath.Join(filepath.Dir(path), x.Publish)
			}
			if x.PublishPasswordFile != "" && !filepath.IsAbs(x.PublishPasswordFile) {
				x.PublishPasswordFile = filepath.Join(filepath.Dir(path), x.PublishPasswordFile)
			}
		}
	}
	return p, err
}

// ParsePartners reads partners.csv from r; name is used in messages.
func ParsePartners(r io.Reader, name string) (*Partners, error) {
	var errs Errors
	p := &Partners{byID: map[string]*Partner{}, byRealm: map[string]*Partner{}}
	rows, err := readCSV(r, name, partnerColumns, partnerOptional, &errs)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		ln := row.line
		x := &Partner{ID: row.get("id"), Name: row.get("name"), Country: row.get("country"), Line: ln}
		if !idPattern.MatchString(x.ID) {
			errs.add(name, ln, "id", "%q is not a valid partner id (letters, digits, _; at most 32)", x.ID)
		} else if strings.EqualFold(x.ID, OperatorDir) {
			errs.add(name, ln, "id", "%q is the name of the operator's folder of a reported period: not a partner id", x.ID)
		} else if prev, dup := p.byID[x.ID]; dup {
			errs.add(name, ln, "id", "duplicate partner id %q (also on line %d)", x.ID, prev.Line)
		}
		if x.Name == "" || strings.ContainsAny(x.Name, ";\"") {
			errs.add(name, ln, "name", "%q: name must be non-empty without ; or \"", x.Name)
		}
		if x.Country == "" || strings.ContainsAny(x.Country, ";\"") {
			errs.add(name, ln, "country", "%q: country must be non-empty without ; or \"", x.Country)
		}
		realms := strings.Fields(strings.ToLower(row.get("realms")))
		if len(realms) == 0 {
			errs.add(name, ln, "realms", "at least one realm is needed")
		}
		for _, rl := range realms {
			if prev, dup := p.byRealm[rl]; dup {
				errs.add(name, ln, "realms", "realm %q already belongs to %s (line %d)", rl, prev.ID, prev.Line)
				continue
			}
			p.byRealm[rl] = x
		}
		x.Realms = realms
		tz := row.get("timezone")
		loc, err := loadZone(tz)
		if err != nil {
			errs.add(name, ln, "timezone", "%q is not an IANA time zone", tz)
		}
		x.Timezone = loc
		x.Publish, x.PublishPasswordFile = row.get("publish"), row.get("publish_password_file")
		if strings.Contains(x.Publish, "://") {
			u, err := ParsePublishURL(x.Publish)
			if err != nil {
				errs.add(name, ln, "publish", "%v", err)
			}
			x.PublishURL = u
		}
		if x.PublishPasswordFile != "" && x.PublishURL == nil {
			errs.add(name, ln, "publish_password_file", "a password file needs an ftp:// or ftps:// publish URL on the same line")
		}
		p.byID[x.ID] = x
		p.List = append(p.List, x)
	}
	if len(p.List) == 0 && len(errs) == 0 {
		errs.add(name, 0, "", "no partners")
	}
	return p, errs.err()
}

// loadZone resolves an IANA zone. Binaries embed time/tzdata, so the answer
// does not depend on the host's zoneinfo.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errors.New("empty or host-dependent zone")
	}
	return time.LoadLocation(name)
}

type csvRow struct {
	line int
	cols map[string]int
	rec  []string
}

// get is the row's value of col; "" for an optional column the file lacks.
func (r csvRow) get(col string) string {
	i, ok := r.cols[col]
	if !ok {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

// readCSV reads a CSV with a required header naming columns, and perhaps
// the optional ones, in any order. Shape errors are fatal; the rows come
// back with their line numbers.
func readCSV(r io.Reader, name string, columns, optional []string, errs *Errors) ([]csvRow, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	header, err := cr.Read()
	if err == io.EOF {
		return nil, Errors{{File: name, Line: 1, Msg: "empty file: header " + strings.Join(columns, ",") + " is required"}}
	}
	if err != nil {
		return nil, Errors{{File: name, Msg: err.Error()}}
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		cols[h] = i
	}
	var shape Errors
	for _, c := range columns {
		if _, ok := cols[c]; !ok {
			shape.add(name, 1, c, "missing column (header must be %s)", strings.Join(columns, ","))
		}
	}
	for h := range cols {
		if !contains(columns, h) && !contains(optional, h) {
			want := strings.Join(columns, ",")
			if len(optional) > 0 {
				want += "; optional: " + strings.Join(optional, ",")
			}
			shape.add(name, 1, h, "unknown column (header must be %s)", want)
		}
	}
	if len(shape) > 0 {
		return nil, shape
	}
	var rows []csvRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				errs.add(name, pe.Line, "", "%v", pe.Err)
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					continue
				}
			} else {
				errs.add(name, 0, "", "%v", err)
			}
			return rows, nil
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, csvRow{line: line, cols: cols, rec: rec})
	}
	return rows, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
