package queue

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestBacklogMemory checks that a queue's memory does not grow with its
// backlog: it sends many 1 KiB messages, then measures the heap with the
// backlog waiting, after receiving a few, and after a restart. The full
// size (1,000,000 messages, 1 GiB on disk) runs with SLUICE_BIG_TESTS=1;
// by default 50,000.
func TestBacklogMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes tens of megabytes")
	}
	n := 50_000
	if os.Getenv("SLUICE_BIG_TESTS") != "" {
		n = 1_000_000
	}
	e := newEnv(t, true)
	q := e.create("backlog", nil)
	body := strings.Repeat("x", 1024)
	heap0 := heapInUse()
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := make([]SendInput, 10)
			for i := range in {
				in[i].Body = body
			}
			for i := w * 10; i < n; i += workers * 10 {
				if _, err := q.Send(context.Background(), in); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := q.Stats(); s.Visible != int64(n) {
		t.Fatalf("visible %d, want %d", s.Visible, n)
	}
	for range 10 {
		for _, m := range recv(t, q, 10, nil) {
			mustDelete(t, q, m.ReceiptHandle)
		}
	}
	grown := heapInUse() - heap0
	data := int64(n) * 1024
	t.Logf("%d messages (%d MiB of bodies): heap grew %d KiB", n, data>>20, grown>>10)
	if grown > 8<<20 {
		t.Fatalf("heap grew %d bytes for a %d-byte backlog", grown, data)
	}
	e.reopen()
	q = e.q("backlog")
	if s := q.Stats(); s.Visible != int64(n-100) {
		t.Fatalf("visible after reopen %d", s.Visible)
	}
	recv(t, q, 10, nil)
	if grown := heapInUse() - heap0; grown > 8<<20 {
		t.Fatalf("after reopen the heap grew %d bytes", grown)
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
