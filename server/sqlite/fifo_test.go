package sqlite

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Waiters get the write turn in the order they asked for it, and one that
// gives up waiting leaves the line without taking or losing a turn.
func TestFIFOHandsTurnsInArrivalOrder(t *testing.T) {
	var f fifo
	if err := f.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	queued := func(want int) {
		// Wait until the waiter is in line, so arrival order is known.
		for {
			f.mu.Lock()
			got := len(f.q)
			f.mu.Unlock()
			if got == want {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	for i := 0; i < n; i++ {
		wg.Add(1)
		ctx := context.Background()
		if i == 5 {
			ctx = cancelled
		}
		go func(i int, ctx context.Context) {
			defer wg.Done()
			if err := f.lock(ctx); err != nil {
				mu.Lock()
				order = append(order, -i)
				mu.Unlock()
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			f.unlock()
		}(i, ctx)
		queued(i + 1)
	}
	cancel()
	queued(n - 1)
	f.unlock()
	wg.Wait()
	want := []int{-5}
	for i := 0; i < n; i++ {
		if i != 5 {
			want = append(want, i)
		}
	}
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	if f.held || len(f.q) != 0 {
		t.Errorf("after all: held %v, %d waiting; want free", f.held, len(f.q))
	}
}
