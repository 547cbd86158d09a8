package logstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestAppendRead(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{})
	defer l.Close()
	var want [][]byte
	var next int64
	for i := 0; i < 20; i++ {
		b := simpleBatch(t, 1+i%5, 100, 1000+int64(i), i)
		orig := bytes.Clone(b)
		res := mustAppend(t, l, b)
		if res.BaseOffset != next || res.LastOffset != next+int64(1+i%5)-1 {
			t.Fatalf("batch %d: offsets %d..%d, want base %d", i, res.BaseOffset, res.LastOffset, next)
		}
		if res.LogAppendTime != -1 || res.LogStartOffset != 0 {
			t.Fatalf("result %+v", res)
		}
		want = append(want, withBase(orig, next))
		next = res.LastOffset + 1
	}
	if l.EndOffset() != next || l.HighWatermark() != next {
		t.Fatalf("end %d hw %d, want %d", l.EndOffset(), l.HighWatermark(), next)
	}
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
	// An offset inside a batch returns that batch first.
	h3, _ := ParseBatchHeader(want[3])
	c, err := l.Read(h3.BaseOffset+int64(h3.LastOffsetDelta), 1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := c.AppendTo(nil)
	c.Release()
	c.Release() // idempotent
	if !bytes.Equal(data, want[3]) {
		t.Fatalf("Read inside batch 3 returned %d bytes, not batch 3", len(data))
	}
	// At the high watermark: empty. Beyond, or negative: out of range.
	c, err = l.Read(next, 1<<20)
	if err != nil || c.Size != 0 {
		t.Fatalf("Read(hw) = %+v, %v", c, err)
	}
	for _, off := range []int64{next + 1, -1} {
		_, err = l.Read(off, 1<<20)
		var oe *OffsetOutOfRangeError
		if !errors.As(err, &oe) || !errors.Is(err, ErrOffsetOutOfRange) || oe.Start != 0 || oe.End != next {
			t.Fatalf("Read(%d) error %v", off, err)
		}
	}
	var zero Chunk
	zero.Release()
	if b, err := zero.AppendTo(nil); err != nil || len(b) != 0 {
		t.Fatal("zero chunk")
	}
}

func TestRollIndexAndReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 4096, IndexIntervalBytes: 512}
	l := mustOpen(t, dir, cfg)
	var want [][]byte
	var off int64
	for i := 0; i < 200; i++ {
		b := simpleBatch(t, 1+i%3, 40+i%50, int64(i*10), i)
		orig := bytes.Clone(b)
		res := mustAppend(t, l, b)
		want = append(want, withBase(orig, res.BaseOffset))
		off = res.LastOffset + 1
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) < 5 {
		t.Fatalf("%d segments, want several", len(logs))
	}
	for _, name := range logs {
		fi, _ := os.Stat(name)
		if fi.Size() > 4096 {
			t.Fatalf("%s is %d bytes > segment.bytes", name, fi.Size())
		}
	}
	check := func(l *Log) {
		t.Helper()
		got := readAll(t, l)
		if len(got) != len(want) {
			t.Fatalf("%d batches, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
		// Every offset finds its batch through the index.
		for _, w := range want {
			h, _ := ParseBatchHeader(w)
			for o := h.BaseOffset; o <= h.BaseOffset+int64(h.LastOffsetDelta); o++ {
				c, err := l.Read(o, 1)
				if err != nil {
					t.Fatal(err)
				}
				if c.Size != int64(len(w)) {
					t.Fatalf("Read(%d) size %d want %d", o, c.Size, len(w))
				}
				got, _ := c.AppendTo(nil)
				c.Release()
				if !bytes.Equal(got, w) {
					t.Fatalf("Read(%d) wrong batch", o)
				}
			}
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(simpleBatch(t, 1, 1, 1, 1), AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	idx, _ := filepath.Glob(filepath.Join(dir, "*.index"))
	before := map[string][]byte{}
	for _, p := range idx {
		before[p], _ = os.ReadFile(p)
	}
	l = mustOpen(t, dir, cfg)
	defer l.Close()
	for p, b := range before { // clean reopen rewrites no sealed index
		if now, _ := os.ReadFile(p); !bytes.Equal(now, b) && p != idx[len(idx)-1] {
			t.Fatalf("%s changed on reopen", p)
		}
	}
	if l.EndOffset() != off || l.HighWatermark() != off {
		t.Fatalf("reopened end %d, want %d", l.EndOffset(), off)
	}
	check(l)
	res := mustAppend(t, l, simpleBatch(t, 1, 10, 5, 99))
	if res.BaseOffset != off {
		t.Fatalf("append after reopen got %d want %d", res.BaseOffset, off)
	}
}

func TestRollByTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := &fakeClock{t: time.UnixMilli(1_000_000)}
	l := mustOpen(t, dir, Config{SegmentMs: 1000, Now: clk.Now})
	defer l.Close()
	// No timestamps (-1): segment.ms counts in wall-clock time.
	mustAppend(t, l, simpleBatch(t, 1, 10, -1, 1))
	clk.t = clk.t.Add(500 * time.Millisecond)
	mustAppend(t, l, simpleBatch(t, 1, 10, -1, 2))
	if n := countFiles(t, dir, "*.log"); n != 1 {
		t.Fatalf("%d segments before segment.ms", n)
	}
	clk.t = clk.t.Add(600 * time.Millisecond)
	mustAppend(t, l, simpleBatch(t, 1, 10, -1, 3))
	if n := countFiles(t, dir, "*.log"); n != 2 {
		t.Fatalf("%d segments after segment.ms, want 2", n)
	}
	// With timestamps: record time, whatever the clock says (old data
	// replayed does not roll on every batch).
	clk.t = clk.t.Add(time.Hour)
	mustAppend(t, l, simpleBatch(t, 1, 10, 1000, 4)) // rolls: the open segment's clock
	mustAppend(t, l, simpleBatch(t, 1, 10, 1900, 5))
	if n := countFiles(t, dir, "*.log"); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	mustAppend(t, l, simpleBatch(t, 1, 10, 2000, 6))
	if n := countFiles(t, dir, "*.log"); n != 4 {
		t.Fatalf("%d segments after record-time segment.ms, want 4", n)
	}
}

func countFiles(t *testing.T, dir, pattern string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func TestAppendCheckAndLimits(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{MaxBatchBytes: 1000})
	defer l.Close()
	mustAppend(t, l, simpleBatch(t, 3, 10, 1, 1))
	refuse := errors.New("refused")
	var seen int64 = -1
	_, err := l.Append(simpleBatch(t, 1, 10, 1, 2), AppendOptions{Check: func(h *BatchHeader, base int64) error {
		seen = base
		if h.NumRecords != 1 {
			t.Error("header not passed")
		}
		return refuse
	}})
	if err != refuse || seen != 3 || l.EndOffset() != 3 {
		t.Fatalf("check: %v seen %d end %d", err, seen, l.EndOffset())
	}
	if _, err := l.Append(simpleBatch(t, 1, 2000, 1, 2), AppendOptions{}); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	bad := simpleBatch(t, 1, 10, 1, 2)
	bad[len(bad)-1] ^= 1
	var be *BatchError
	if _, err := l.Append(bad, AppendOptions{}); !errors.As(err, &be) || !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("corrupt: %v", err)
	}
	if _, err := l.Append(append(simpleBatch(t, 1, 10, 1, 2), 0), AppendOptions{}); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("two batches / trailing bytes: %v", err)
	}
	if l.EndOffset() != 3 {
		t.Fatal("refused appends moved the end")
	}
}

func TestChangedAndPolicies(t *testing.T) {
	t.Parallel()
	for _, p := range []FlushPolicy{FlushAlways, FlushInterval, FlushNone} {
		l := mustOpen(t, t.TempDir(), Config{Flush: p, FlushInterval: 5 * time.Millisecond})
		ch := l.Changed()
		select {
		case <-ch:
			t.Fatal("closed before any append")
		default:
		}
		mustAppend(t, l, simpleBatch(t, 2, 10, 1, 1))
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Changed not closed after append", p)
		}
		if l.HighWatermark() != 2 || l.EndOffset() != 2 {
			t.Fatalf("%s: hw %d", p, l.HighWatermark())
		}
		if p == FlushInterval { // the flusher fsyncs on its own
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				l.mu.RLock()
				synced := l.synced
				l.mu.RUnlock()
				if synced == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("interval flusher did not fsync")
				}
			}
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		ch = l.Changed()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		<-ch // closed on Close
		<-l.Changed()
	}
}

func TestSetConfigPolicySwitch(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{Flush: FlushNone})
	defer l.Close()
	mustAppend(t, l, simpleBatch(t, 1, 10, 1, 1))
	if err := l.SetConfig(Config{Flush: FlushInterval, FlushInterval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, simpleBatch(t, 1, 10, 1, 1))
	time.Sleep(10 * time.Millisecond)
	if err := l.SetConfig(Config{}); err != nil {
		t.Fatal(err)
	}
	if l.Config().Flush != FlushAlways || l.HighWatermark() != 2 {
		t.Fatal("switch to always")
	}
	mustAppend(t, l, simpleBatch(t, 1, 10, 1, 1))
	if l.HighWatermark() != 3 {
		t.Fatal("hw after always append")
	}
	if err := l.SetConfig(Config{SegmentBytes: 1}); err == nil {
		t.Fatal("invalid config accepted")
	}
}

func TestFailedLogRefusesAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, dir, Config{})
	mustAppend(t, l, simpleBatch(t, 1, 10, 1, 1))
	l.mu.Lock()
	_ = l.active().f.Close() // the next write fails
	l.mu.Unlock()
	if _, err := l.Append(simpleBatch(t, 1, 10, 1, 2), AppendOptions{}); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append on broken file: %v", err)
	}
	if _, err := l.Append(simpleBatch(t, 1, 10, 1, 3), AppendOptions{}); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("append after failure: %v", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("sync after failure: %v", err)
	}
	_ = l.Close()
	l = mustOpen(t, dir, Config{})
	defer l.Close()
	if l.EndOffset() != 1 {
		t.Fatalf("end after reopen %d", l.EndOffset())
	}
	mustAppend(t, l, simpleBatch(t, 1, 10, 1, 4))
}

func TestConcurrentAppendRead(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{SegmentBytes: 8192, IndexIntervalBytes: 512})
	defer l.Close()
	const writers, per = 8, 40
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() { // a tailing reader that must only see whole, valid batches
		defer close(readErr)
		var off int64
		for {
			select {
			case <-stop:
				if off == writers*per {
					return
				}
			case <-l.Changed():
			case <-time.After(time.Millisecond):
			}
			for off < l.HighWatermark() {
				c, err := l.Read(off, 4096)
				if err != nil {
					readErr <- err
					return
				}
				b, err := c.AppendTo(nil)
				c.Release()
				if err != nil {
					readErr <- err
					return
				}
				for len(b) > 0 {
					h, err := ValidateBatch(b[:12+int(int32(uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11])))])
					if err != nil {
						readErr <- err
						return
					}
					off = h.BaseOffset + int64(h.LastOffsetDelta) + 1
					b = b[h.BatchLength+12:]
				}
			}
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := l.Append(simpleBatch(t, 1, 200, 1, w), AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != writers*per {
		t.Fatal("end offset")
	}
	l.mu.RLock()
	fsyncs := l.fsyncs
	l.mu.RUnlock()
	if fsyncs >= writers*per {
		t.Fatalf("%d fsyncs for %d appends: no group commit", fsyncs, writers*per)
	}
	t.Logf("%d appends, %d fsyncs", writers*per, fsyncs)
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	bad := []Config{
		{SegmentBytes: 10}, {SegmentBytes: 1 << 40}, {SegmentMs: -1}, {RetentionMs: -2},
		{RetentionBytes: -5}, {IndexIntervalBytes: -1}, {MaxBatchBytes: 5}, {Flush: "sometimes"},
		{FlushInterval: -time.Second},
	}
	for _, c := range bad {
		if _, err := Open(t.TempDir(), c); err == nil {
			t.Fatalf("Open accepted %+v", c)
		}
	}
	c := Config{}.WithDefaults()
	if c.SegmentBytes != 1<<30 || c.Flush != FlushAlways || c.RetentionBytes != -1 || c.MaxBatchBytes != 1048588 {
		t.Fatalf("defaults %+v", c)
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "p-0")
	l := mustOpen(t, dir, Config{})
	mustAppend(t, l, simpleBatch(t, 1, 10, 1, 1))
	if err := l.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("dir still there")
	}
}
