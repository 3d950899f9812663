// Package hostile is the suite of hostile and broken inputs: each case
// drives the real binaries on a throwaway installation, places a hostile
// input beside good input, and checks that the hostile one gets a clear
// error naming its file, line, field or packet, and that the good input
// went through exactly once. docs/hostile.md lists the cases.
package hostile
