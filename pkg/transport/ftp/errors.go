package ftp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"syscall"
)

// How faults are sorted: retried, refused, or returned as they are
// (docs/publish-transport.md "Timeouts and retries").

// transient marks a fault worth another try that is not a network error.
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

type kind int

const (
	kindUnknown   kind = iota // not a fault of the connection: stop
	kindPermanent             // a 5xx reply: stop, the connection is fine
	kindTransient             // retry on a new connection
	kindRefused               // login or TLS refused: stop
)

// kindOf sorts an error of a command on a session that is up (connect
// has marked its own refusals with ErrRefused already).
func kindOf(err error) kind {
	if errors.Is(err, ErrRefused) || certFailure(err) {
		return kindRefused
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		switch {
		case te.Code == 530:
			return kindRefused
		case te.Code == 522 || te.Code == 534 || te.Code == 431:
			// vsftpd: "522 SSL connection failed" (e.g. no session reuse
			// on the data channel); 534/431: TLS policy.
			return kindRefused
		case te.Code/100 == 4:
			return kindTransient
		default:
			return kindPermanent
		}
	}
	var tr transient
	if errors.As(err, &tr) {
		return kindTransient
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return kindUnknown
	}
	if networkFault(err) || tlsFailure(err) {
		// A TLS error on a session that was up is a broken connection:
		// a dying vsftpd writes "500 OOPS" in plain text into it.
		return kindTransient
	}
	return kindUnknown
}

// networkFault is a connection that failed, dropped or timed out. A
// dropped TLS connection comes with TLS noise ("tls: failed to send
// closeNotify alert"), so this is checked before the TLS errors.
func networkFault(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// certFailure is a server certificate this client does not trust.
func certFailure(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// tlsFailure is any other TLS error: an alert from the server, plain text
// where a TLS record was due, or a handshake this side gave up on (plain
// errors in crypto/tls, known by their text).
func tlsFailure(err error) bool {
	var (
		rh tls.RecordHeaderError
		al tls.AlertError
	)
	return errors.As(err, &rh) || errors.As(err, &al) || tlsText(err)
}

// tlsText reports an error in err's tree whose text is crypto/tls's.
func tlsText(err error) bool {
	if err == nil {
		return false
	}
	if strings.HasPrefix(err.Error(), "tls: ") {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return tlsText(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if tlsText(e) {
				return true
			}
		}
	}
	return false
}

// isReply is a reply from the server: the connection itself is fine.
func isReply(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te)
}

// lineErr keeps an error on one line: the library joins the errors of a
// transfer (copy, close, reply) with newlines, which would split a log line.
type lineErr struct{ error }

func (e lineErr) Error() string { return strings.ReplaceAll(e.error.Error(), "\n", "; ") }
func (e lineErr) Unwrap() error { return e.error }

func oneLine(err error) error {
	if err == nil || !strings.Contains(err.Error(), "\n") {
		return err
	}
	return lineErr{err}
}
