package publish

import (
	"context"
	"fmt"
	"net/url"

	"roamsettle/pkg/config"
	"roamsettle/pkg/transport/ftp"
	"roamsettle/pkg/transport/local"
)

// Target is one destination: an FTP account or a folder.
type Target struct {
	Name         string   // the URL (it never holds a password) or the folder: for messages and the publish log
	URL          *url.URL // nil: a folder
	Password     string
	PasswordFile string // read when dialling (an ISP's own account)
	CAFile       string
}

func newTarget(name string, u *url.URL, password, passwordFile, caFile string) Target {
	return Target{Name: name, URL: u, Password: password, PasswordFile: passwordFile, CAFile: caFile}
}

// key tells targets apart, so ISPs on the same account share a connection.
func (t Target) key() string { return t.Name + "\x00" + t.PasswordFile }

// ErrRefused is a destination that refused the login or the TLS
// certificate: publishing stops at once, nothing is retried.
var ErrRefused = ftp.ErrRefused

var (
	_ Destination = (*ftp.Client)(nil)
	_ Destination = (*local.Dir)(nil)
)

// Dial opens a target: an FTP or FTPS account, or a folder (made when
// missing).
func Dial(ctx context.Context, t Target) (Destination, error) {
	if t.URL == nil {
		d, err := local.Open(t.Name)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	pw := t.Password
	if t.PasswordFile != "" {
		var err error
		if pw, err = config.ReadSecretFile(t.PasswordFile); err != nil {
			return nil, fmt.Errorf("password for %s: %w", t.Name, err)
		}
	}
	c, err := ftp.Dial(ctx, ftp.Options{URL: t.URL, Password: pw, CAFile: t.CAFile})
	if err != nil {
		return nil, err
	}
	return c, nil
}
