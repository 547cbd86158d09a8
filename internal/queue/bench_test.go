package queue

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func benchEnv(b *testing.B) *Queue {
	b.Helper()
	e := &env{t: &testing.T{}, dir: b.TempDir()}
	e.open()
	b.Cleanup(func() { e.m.Close(); e.meta.Close() })
	q, err := e.m.Create("bench", nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return q
}

func batchOf(n int) []SendInput {
	body := strings.Repeat("x", 1024)
	in := make([]SendInput, n)
	for i := range in {
		in[i].Body = body
	}
	return in
}

// BenchmarkSend: SendMessageBatch of 10 × 1 KiB, each durable (fsync)
// before it returns; one sender, then 16 concurrent senders sharing
// fsyncs.
func BenchmarkSend(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(map[int]string{1: "serial", 16: "parallel16"}[par], func(b *testing.B) {
			q := benchEnv(b)
			in := batchOf(10)
			b.SetBytes(10 * 1024)
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range par {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := q.Send(context.Background(), in); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkReceiveDelete: receive 10, delete them with one DeleteBatch,
// from a backlog filled beforehand.
func BenchmarkReceiveDelete(b *testing.B) {
	q := benchEnv(b)
	in := batchOf(10)
	for range b.N {
		if _, err := q.Send(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(10 * 1024)
	b.ResetTimer()
	hs := make([]string, 0, 10)
	for range b.N {
		msgs, err := q.Receive(context.Background(), ReceiveInput{Max: 10, WaitTime: noWait})
		if err != nil || len(msgs) != 10 {
			b.Fatalf("%d %v", len(msgs), err)
		}
		hs = hs[:0]
		for _, m := range msgs {
			hs = append(hs, m.ReceiptHandle)
		}
		for _, err := range q.DeleteBatch(hs) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)*10/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPipeline: 4 senders and 4 consumers (receive 10 with a long
// poll, delete batch) at once; messages/s through the whole cycle.
func BenchmarkPipeline(b *testing.B) {
	q := benchEnv(b)
	in := batchOf(10)
	total := int64(b.N) * 10
	var sent, done atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(10 * 1024)
	b.ResetTimer()
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for sent.Add(10) <= total {
				if _, err := q.Send(context.Background(), in); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			hs := make([]string, 0, 10)
			for done.Load() < total {
				msgs, err := q.Receive(context.Background(), ReceiveInput{Max: 10, WaitTime: ptr(100 * time.Millisecond)})
				if err != nil {
					b.Error(err)
					return
				}
				hs = hs[:0]
				for _, m := range msgs {
					hs = append(hs, m.ReceiptHandle)
				}
				if len(hs) > 0 {
					q.DeleteBatch(hs)
					done.Add(int64(len(hs)))
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
}
