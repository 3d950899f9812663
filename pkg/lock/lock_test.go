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
	l, err := Acquire(ctx, dir, ".lock", "test one", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(ctx, dir, ".lock", "test two", false, nil)
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(held.Holder, "test one") {
		t.Fatalf("want HeldError naming the holder, got %v", err)
	}

	// A waiter must say whom it waits for, and must not get the lock
	// while it is held: it gets it only once the holder lets go.
	waiting := make(chan string, 2)
	done := make(chan error, 1)
	go func() {
		l2, err := Acquire(ctx, dir, ".lock", "waiter", true, func(h string) { waiting <- h })
		if err == nil {
			defer l2.Release()
		}
		done <- err
	}()
	select {
	case h := <-waiting:
		if !strings.Contains(h, "test one") {
			t.Errorf("waiter was told the holder is %q", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter never said it was waiting")
	}
	select {
	case err := <-done:
		t.Fatalf("the waiter returned (%v) while the lock was still held", err)
	case <-time.After(500 * time.Millisecond): // several polls of the lock
	}
	l.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the lock after it was released")
	}
	if len(waiting) != 0 {
		t.Error("the waiter said it was waiting more than once")
	}
}

func TestAcquireWaitCancelled(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, ".lock", "holder", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Acquire(ctx, dir, ".lock", "waiter", true, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the context's error, got %v", err)
	}
}
