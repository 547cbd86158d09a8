package logstore

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchBatch is 16 records of 1 KiB: a 16 KiB batch.
func benchBatch(tb testing.TB, seed int) []byte {
	return simpleBatch(tb, 16, 1024, 1_700_000_000_000, seed)
}

// BenchmarkAppend measures appends of 16 KiB batches under each flush
// policy with 1 and 16 concurrent appenders, beside a raw baseline on the
// same file system: a plain 16 KiB write followed by fdatasync (the call
// the log uses), one after the other. MB/s of the two can be compared
// within one run.
func BenchmarkAppend(b *testing.B) {
	b.Run("raw-write+fdatasync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 16<<10)
		b.SetBytes(int64(len(buf)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			if err := fdatasync(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, p := range []FlushPolicy{FlushAlways, FlushInterval, FlushNone} {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/appenders=%d", p, n), func(b *testing.B) {
				l := mustOpen(b, b.TempDir(), Config{Flush: p, FlushInterval: 100 * time.Millisecond})
				defer l.Close()
				batches := make([][]byte, n)
				for i := range batches {
					batches[i] = benchBatch(b, i)
				}
				b.SetBytes(int64(len(batches[0])))
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for g := 0; g < n; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if _, err := l.Append(batches[g], AppendOptions{}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				l.mu.RLock()
				if fs := l.fsyncs; fs > 0 {
					b.ReportMetric(float64(b.N)/float64(fs), "batches/fsync")
				}
				l.mu.RUnlock()
			})
		}
	}
}

// BenchmarkRead measures sequential reads of up to 1 MiB from a 64 MiB
// log: located through the index, then copied out with pread (AppendTo)
// or sent to a TCP connection with sendfile (WriteTo).
func BenchmarkRead(b *testing.B) {
	l := mustOpen(b, b.TempDir(), Config{Flush: FlushNone, SegmentBytes: 16 << 20})
	defer l.Close()
	for l.Size() < 64<<20 {
		mustAppend(b, l, benchBatch(b, 1))
	}
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	hw := l.HighWatermark()
	batchSize := int64(len(benchBatch(b, 1)))
	run := func(b *testing.B, consume func(c Chunk) error) {
		var total int64
		off := int64(0)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c, err := l.Read(off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			if err := consume(c); err != nil {
				b.Fatal(err)
			}
			total += c.Size
			off += c.Size / batchSize * 16
			c.Release()
			if off >= hw {
				off = 0
			}
		}
		b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
	}
	b.Run("locate", func(b *testing.B) { run(b, func(Chunk) error { return nil }) })
	b.Run("pread", func(b *testing.B) {
		buf := make([]byte, 0, 2<<20)
		run(b, func(c Chunk) error {
			var err error
			buf, err = c.AppendTo(buf[:0])
			return err
		})
	})
	b.Run("sendfile", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		run(b, func(c Chunk) error { _, err := c.WriteTo(conn); return err })
		conn.Close()
		<-done
	})
}

// BenchmarkAppend2GiB appends 2 GiB through one log (FlushNone, default
// 1 GiB segments) and reports the heap in use before, at its largest
// during, and after, to show that memory does not grow with the log, and
// how long reopening (recovery's full check) takes. It
// runs only when -bench names it: go test -run=^$ -bench=Append2GiB
// -benchtime=1x ./internal/logstore/
func BenchmarkAppend2GiB(b *testing.B) {
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), "2GiB") {
		b.Skip("runs only when -bench names BenchmarkAppend2GiB")
	}
	const total = 2 << 30
	batch := benchBatch(b, 1)
	var ms runtime.MemStats
	heap := func() float64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / (1 << 20)
	}
	b.SetBytes(total)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		l := mustOpen(b, dir, Config{Flush: FlushNone})
		before := heap()
		peak := before
		b.StartTimer()
		var written int64
		for k := 0; written < total; k++ {
			mustAppend(b, l, batch)
			written += int64(len(batch))
			if k%4096 == 0 { // every 64 MiB
				b.StopTimer()
				runtime.ReadMemStats(&ms)
				peak = max(peak, float64(ms.HeapInuse)/(1<<20))
				b.StartTimer()
			}
		}
		b.StopTimer()
		after := heap()
		// Open checks every batch of every segment: report what that
		// costs for 2 GiB (from the page cache).
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		l = mustOpen(b, dir, Config{Flush: FlushNone})
		reopen := time.Since(t0)
		if err := l.Remove(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(before, "heap-before-MiB")
		b.ReportMetric(peak, "heap-peak-MiB")
		b.ReportMetric(after, "heap-after-MiB")
		b.ReportMetric(reopen.Seconds(), "reopen-s")
		b.StartTimer()
	}
}
