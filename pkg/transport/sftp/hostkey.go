package sftp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError refuses a server whose host key is not trusted. Its message
// says whether the key is unknown or changed, and what to run to trust it.
type HostKeyError struct {
	Addr       string        // host:port dialled
	Changed    bool          // a different key is trusted for this host (else: unknown host)
	Revoked    bool          // the key is marked @revoked
	Offered    ssh.PublicKey // what the server presented
	Want       []string      // trusted keys: "SHA256:... (type, file:line)"
	KnownHosts string        // known_hosts file consulted ("" with a pinned key)
	Pinned     bool          // checked against [edge] host_key
}

func (e *HostKeyError) Error() string {
	host, port := splitAddr(e.Addr)
	fp := ssh.FingerprintSHA256(e.Offered)
	kt := keyscanType(e.Offered.Type())
	scan := fmt.Sprintf("ssh-keyscan -t %s %s", kt, host)
	entry := host
	if port != 22 {
		scan = fmt.Sprintf("ssh-keyscan -p %d -t %s %s", port, kt, host)
		entry = fmt.Sprintf("[%s]:%d", host, port)
	}
	var b strings.Builder
	switch {
	case e.Revoked:
		fmt.Fprintf(&b, "host key of %s (%s %s) is marked @revoked in %s; refusing to connect", e.Addr, e.Offered.Type(), fp, e.KnownHosts)
		return b.String()
	case e.Changed:
		fmt.Fprintf(&b, "HOST KEY CHANGED for %s: the server offered %s %s, but ", e.Addr, e.Offered.Type(), fp)
		if e.Pinned {
			fmt.Fprintf(&b, "[edge] host_key pins %s", strings.Join(e.Want, ", "))
		} else {
			fmt.Fprintf(&b, "%s trusts %s", e.KnownHosts, strings.Join(e.Want, ", "))
		}
		b.WriteString("; refusing to connect. Someone may be intercepting the connection, or the server was reinstalled. " +
			"Confirm the new fingerprint with the server's administrator (out of band, e.g. ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the server), then ")
		if e.Pinned {
			fmt.Fprintf(&b, "set [edge] host_key to the line printed by: %s", scan)
		} else {
			fmt.Fprintf(&b, "replace the old entry: ssh-keygen -R '%s' -f %s && %s >> %s", entry, e.KnownHosts, scan, e.KnownHosts)
		}
	default:
		fmt.Fprintf(&b, "host key of %s is UNKNOWN (not in %s): the server offered %s %s; refusing to connect. "+
			"Confirm this fingerprint with the server's administrator (out of band, e.g. ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the server), then trust it with: %s >> %s "+
			"(or pin it as [edge] host_key)", e.Addr, e.KnownHosts, e.Offered.Type(), fp, scan, e.KnownHosts)
	}
	return b.String()
}

func splitAddr(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 22
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// keyscanType is ssh-keyscan's -t name for a key type.
func keyscanType(t string) string {
	switch {
	case strings.Contains(t, "ed25519"):
		return "ed25519"
	case strings.HasPrefix(t, "ecdsa"):
		return "ecdsa"
	case strings.Contains(t, "rsa"):
		return "rsa"
	}
	return t
}

// hostKeyCheck returns the host key callback and the host key algorithms
// to ask for: those of the trusted keys, so a server with several keys
// presents the one we know instead of one that would look "changed".
func hostKeyCheck(cfg *Config, addr string) (ssh.HostKeyCallback, []string, error) {
	switch {
	case cfg.InsecureIgnoreHostKey:
		return ssh.InsecureIgnoreHostKey(), nil, nil
	case cfg.HostKey != "":
		pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(cfg.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("[edge] host_key %q: %w", cfg.HostKey, err)
		}
		cb := func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if key.Type() == pinned.Type() && string(key.Marshal()) == string(pinned.Marshal()) {
				return nil
			}
			return &HostKeyError{Addr: addr, Changed: true, Pinned: true, Offered: key,
				Want: []string{fmt.Sprintf("%s (%s)", ssh.FingerprintSHA256(pinned), pinned.Type())}}
		}
		return cb, algorithms([]string{pinned.Type()}), nil
	}
	db, err := knownhosts.New(cfg.KnownHosts)
	if errors.Is(err, os.ErrNotExist) {
		// No file yet: every host is unknown; say so with the command to run.
		return func(_ string, _ net.Addr, key ssh.PublicKey) error {
			return &HostKeyError{Addr: addr, Offered: key, KnownHosts: cfg.KnownHosts}
		}, unknownHostAlgos(), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts %s: %w", cfg.KnownHosts, err)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := db(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke):
			he := &HostKeyError{Addr: addr, Offered: key, KnownHosts: cfg.KnownHosts, Changed: len(ke.Want) > 0}
			for _, w := range ke.Want {
				he.Want = append(he.Want, fmt.Sprintf("%s (%s, %s:%d)", ssh.FingerprintSHA256(w.Key), w.Key.Type(), w.Filename, w.Line))
			}
			return he
		case errors.As(err, &re):
			return &HostKeyError{Addr: addr, Offered: key, KnownHosts: cfg.KnownHosts, Revoked: true}
		}
		return err
	}
	// Ask the database with a key of no real type: it answers with every
	// key it trusts for the host.
	var types []string
	var ke *knownhosts.KeyError
	if errors.As(db(addr, &net.TCPAddr{}, probeKey{}), &ke) {
		for _, w := range ke.Want {
			types = append(types, w.Key.Type())
		}
	}
	if len(types) == 0 {
		return cb, unknownHostAlgos(), nil
	}
	return cb, algorithms(types), nil
}

// unknownHostAlgos asks an unknown server for its ed25519 key first, so the
// fingerprint in the refusal and the ssh-keyscan command suggested are of
// the key type OpenSSH itself prefers.
func unknownHostAlgos() []string {
	return []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
}

// algorithms maps key types to host key algorithms (RSA keys sign with
// SHA-2 algorithms of other names).
func algorithms(types []string) []string {
	var out []string
	for _, t := range types {
		if t == ssh.KeyAlgoRSA {
			out = append(out, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
			continue
		}
		out = append(out, t)
	}
	return out
}

type probeKey struct{}

func (probeKey) Type() string                        { return "roamsettle-probe" }
func (probeKey) Marshal() []byte                     { return []byte("roamsettle-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe") }
