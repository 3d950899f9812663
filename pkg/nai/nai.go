// Package nai splits a RADIUS User-Name (a Network Access Identifier) into
// user and realm, in the three forms roaming NASes send.
package nai

import "strings"

// Split returns the user and realm of name: "user@realm" (split at the last
// '@'), "realm\user" and "user%realm". The realm keeps its case; callers that
// compare realms fold case themselves. A name with no realm returns realm "".
func Split(name string) (user, realm string) {
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[:i], name[i+1:]
	}
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		return name[i+1:], name[:i]
	}
	if i := strings.LastIndexByte(name, '%'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}
