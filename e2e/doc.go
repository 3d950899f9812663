// Package e2e holds the end-to-end test of the whole toolkit, through the
// real binaries and real servers only: three edges (two `roamcollect
// listen` fed by the real radclient, one `roamcollect import` of the detail
// file a real FreeRADIUS wrote), `push` over a real loopback OpenSSH sshd,
// `roamload`, `roamclean`, `roamreport --publish` to a real loopback vsftpd
// (FTPS), and each ISP downloading its own folder with curl on its own
// account.
//
// It proves that every amount an ISP receives — each row of
// creditdebit.csv, invoice.csv, summary.csv and detail.csv, the MANIFEST's
// control totals and every line of the DT file — equals what the test
// computes itself from the traffic it generated, with its own tariff
// selection and math/big arithmetic (no pkg/rate, no pkg/money); that
// every downloaded file matches its MANIFEST's SHA-256 and size; and that
// the nets of all ISPs plus the operator's fees sum to exactly zero. The
// traffic carries the noise real traffic has: a NAS resending a Stop,
// sessions with no Start, interim updates, an unknown realm, realms in odd
// case and in the user%realm and realm\user forms, a user at its own ISP,
// a zero-length session, sessions on both sides of the period's borders
// and of a tariff's valid_from, across summer-time changes.
package e2e
