package nai

import "testing"

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ in, user, realm string }{
		{"user1@aimnet.com", "user1", "aimnet.com"},
		{"a@b@Connect.COM", "a@b", "Connect.COM"},
		{`AIMNET\bob`, "bob", "AIMNET"},
		{"bob%aimnet.com", "bob", "aimnet.com"},
		{"bob", "bob", ""},
		{"", "", ""},
		{"@x", "", "x"},
	} {
		u, r := Split(tc.in)
		if u != tc.user || r != tc.realm {
			t.Errorf("Split(%q) = %q,%q want %q,%q", tc.in, u, r, tc.user, tc.realm)
		}
	}
}
