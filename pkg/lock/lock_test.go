package lock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAcquireHeldRelease(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Acquire(ctx, dir, ".lock", "test one", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(ctx, dir, ".lock", "test two", false)
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(held.Holder, "test one") {
		t.Fatalf("want HeldError naming the holder, got %v", err)
	}
	done := make(chan error)
	go func() {
		l2, err := Acquire(ctx, dir, ".lock", "waiter", true)
		if err == nil {
			l2.Release()
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	l.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
