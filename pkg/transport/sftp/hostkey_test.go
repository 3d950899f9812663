package sftp

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestHostKeyErrorMessages(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(key)
	for _, tc := range []struct {
		name string
		err  HostKeyError
		want []string
		not  []string
	}{
		{"unknown, port 22", HostKeyError{Addr: "central.example.net:22", Offered: key, KnownHosts: "/home/roam/.ssh/known_hosts"},
			[]string{"UNKNOWN", fp, "ssh-keyscan -t ed25519 central.example.net >> /home/roam/.ssh/known_hosts", "out of band"},
			[]string{"-p ", "CHANGED"}},
		{"unknown, other port", HostKeyError{Addr: "10.0.0.5:2222", Offered: key, KnownHosts: "kh"},
			[]string{"ssh-keyscan -p 2222 -t ed25519 10.0.0.5 >> kh"}, nil},
		{"changed in known_hosts", HostKeyError{Addr: "c.example:2222", Changed: true, Offered: key, KnownHosts: "kh", Want: []string{"SHA256:old (ssh-ed25519, kh:3)"}},
			[]string{"HOST KEY CHANGED", fp, "SHA256:old (ssh-ed25519, kh:3)", "ssh-keygen -R '[c.example]:2222' -f kh", "ssh-keyscan -p 2222"},
			[]string{"UNKNOWN"}},
		{"changed pin", HostKeyError{Addr: "c.example:22", Changed: true, Pinned: true, Offered: key, Want: []string{"SHA256:pin (ssh-ed25519)"}},
			[]string{"HOST KEY CHANGED", "host_key pins SHA256:pin", "set [edge] host_key"}, []string{"ssh-keygen -R"}},
		{"revoked", HostKeyError{Addr: "c.example:22", Revoked: true, Offered: key, KnownHosts: "kh"},
			[]string{"@revoked", fp}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("lacks %q:\n%s", w, msg)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(msg, n) {
					t.Errorf("has %q:\n%s", n, msg)
				}
			}
		})
	}
}

func TestKeyscanType(t *testing.T) {
	for in, want := range map[string]string{
		ssh.KeyAlgoED25519: "ed25519", ssh.KeyAlgoECDSA256: "ecdsa", ssh.KeyAlgoECDSA521: "ecdsa", ssh.KeyAlgoRSA: "rsa",
	} {
		if got := keyscanType(in); got != want {
			t.Errorf("keyscanType(%q) = %q, want %q", in, got, want)
		}
	}
}
