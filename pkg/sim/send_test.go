package sim

import (
	"slices"
	"strings"
	"testing"

	"layeh.com/radius"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name  string
		attrs []attr
		typ   radius.Type
		want  string // the attribute's value bytes
		err   string
	}{
		{"quoted string with escapes", []attr{{"User-Name", `"EUNET\\user1"`}}, 1, `EUNET\user1`, ""},
		{"bare string", []attr{{"NAS-Identifier", "nas1"}}, 32, "nas1", ""},
		{"enum by name", []attr{{"Acct-Status-Type", "Interim-Update"}}, 40, "\x00\x00\x00\x03", ""},
		{"enum by number", []attr{{"Acct-Status-Type", "2"}}, 40, "\x00\x00\x00\x02", ""},
		{"integer", []attr{{"Acct-Session-Time", "300"}}, 46, "\x00\x00\x01\x2c", ""},
		{"ipv4", []attr{{"NAS-IP-Address", "192.0.2.1"}}, 4, "\xc0\x00\x02\x01", ""},
		{"ipv6", []attr{{"NAS-IPv6-Address", "2001:db8::1"}}, 95, "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01", ""},
		{"unknown attribute", []attr{{"Vendor-Thing", "1"}}, 0, "", "Vendor-Thing: not an attribute"},
		{"detail-only attribute", []attr{{"Timestamp", "1"}}, 0, "", "Timestamp: not an attribute"},
		{"unknown enum", []attr{{"Acct-Status-Type", "Sometimes"}}, 0, "", `unknown value "Sometimes"`},
		{"number too big", []attr{{"Acct-Session-Time", "4294967296"}}, 0, "", "no 32-bit number"},
		{"bad address", []attr{{"Framed-IP-Address", "10.0.0"}}, 0, "", "Framed-IP-Address"},
		{"unterminated quote", []attr{{"User-Name", `"abc`}}, 0, "", "unterminated"},
		{"ipv4-mapped into an ipv4 attribute", []attr{{"NAS-IP-Address", "::ffff:192.0.2.1"}}, 4, "\xc0\x00\x02\x01", ""},
		{"ipv6 in an ipv4 attribute", []attr{{"NAS-IP-Address", "2001:db8::1"}}, 0, "", "NAS-IP-Address: 2001:db8::1 is not an IPv4 address"},
		{"ipv4 in the ipv6 attribute", []attr{{"NAS-IPv6-Address", "192.0.2.1"}}, 0, "", "NAS-IPv6-Address: 192.0.2.1 is not an IPv6 address"},
		{"string longer than an attribute holds", []attr{{"User-Name", strings.Repeat("u", 254)}}, 0, "", "User-Name: 254 bytes"},
		{"packet longer than RADIUS allows", slices.Repeat([]attr{{"Calling-Station-Id", strings.Repeat("c", 250)}}, 17), 0, "", "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := encode(tc.attrs, []byte("s"))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Get(tc.typ); string(got) != tc.want {
				t.Errorf("value %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadRequests(t *testing.T) {
	in := "Acct-Status-Type = Start\nUser-Name = \"a@b\"\n\n\nAcct-Status-Type = Stop\n"
	var got []string
	err := readRequests(strings.NewReader(in), func(a []attr, line int) error {
		got = append(got, a[len(a)-1].name+"@"+string(rune('0'+line)))
		return nil
	})
	if err != nil || strings.Join(got, " ") != "User-Name@2 Acct-Status-Type@5" {
		t.Errorf("%v %v", got, err)
	}
	if err := readRequests(strings.NewReader("garbage\n"), func([]attr, int) error { return nil }); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("garbage: %v", err)
	}
}

