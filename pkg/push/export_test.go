package push

// SetSettleHook installs a hook called before each step of a settle (an
// error stops it there, as a crash would) and returns a function that
// removes it.
func SetSettleHook(f func(step string) error) (restore func()) {
	old := settleHook
	settleHook = f
	return func() { settleHook = old }
}
