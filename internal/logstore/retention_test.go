package logstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clk := &fakeClock{t: time.UnixMilli(1_000_000)}
	l := mustOpen(t, dir, Config{SegmentBytes: 1024, RetentionMs: 10_000, Now: clk.Now})
	defer l.Close()
	// Batches timestamped 1000 ms apart; each ~ 400 bytes: 2 per segment.
	for i := 0; i < 20; i++ {
		mustAppend(t, l, simpleBatch(t, 1, 300, 1_000_000+int64(i)*1000, i))
	}
	segs := countFiles(t, dir, "*.log")
	if segs != 10 {
		t.Fatalf("%d segments", segs)
	}
	clk.t = time.UnixMilli(1_000_000 + 15_500) // segments with max ts < 1_005_500 expire
	n, err := l.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	// segment k holds ts 1_000_000+2k*1000 and +(2k+1)*1000; expired when (2k+1)*1000 < 5500 → k=0,1,2
	if n != 3 || countFiles(t, dir, "*.log") != 7 || countFiles(t, dir, "*.index") != 7 {
		t.Fatalf("deleted %d, %d left", n, countFiles(t, dir, "*.log"))
	}
	if l.StartOffset() != 6 {
		t.Fatalf("start offset %d want 6", l.StartOffset())
	}
	if _, err := l.Read(5, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	// By size: keep at most ~3 segments worth.
	size := l.Size()
	segSize := 2 * int64(len(simpleBatch(t, 1, 300, 0, 0)))
	if err := l.SetConfig(Config{SegmentBytes: 1024, RetentionMs: -1, RetentionBytes: size - 3*segSize}); err != nil {
		t.Fatal(err)
	}
	n, err = l.EnforceRetention()
	if err != nil || n != 3 {
		t.Fatalf("size retention deleted %d, %v", n, err)
	}
	if l.Size() != size-3*segSize {
		t.Fatalf("size %d after retention", l.Size())
	}
	// Never the active segment, however small the limit.
	_ = l.SetConfig(Config{SegmentBytes: 1024, RetentionMs: 1, RetentionBytes: 1})
	clk.t = clk.t.Add(time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if countFiles(t, dir, "*.log") != 1 || l.EndOffset() != 20 {
		t.Fatalf("%d segments, end %d", countFiles(t, dir, "*.log"), l.EndOffset())
	}
	if got := readAll(t, l); len(got) != 2 {
		t.Fatalf("%d batches left", len(got))
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1024}
	l := mustOpen(t, dir, cfg)
	for i := 0; i < 20; i++ {
		mustAppend(t, l, simpleBatch(t, 2, 300, 5, i)) // 2 offsets per batch
	}
	if err := l.DeleteRecordsBefore(41); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond hw: %v", err)
	}
	before := countFiles(t, dir, "*.log")
	if err := l.DeleteRecordsBefore(9); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 9 {
		t.Fatal("start offset")
	}
	if countFiles(t, dir, "*.log") >= before {
		t.Fatal("no segment freed")
	}
	if err := l.DeleteRecordsBefore(3); err != nil || l.StartOffset() != 9 {
		t.Fatal("moving back")
	}
	// Reads of 9 return the batch holding it (starting at 8).
	c, err := l.Read(9, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.AppendTo(nil)
	c.Release()
	if h, _ := ParseBatchHeader(b); h.BaseOffset != 8 {
		t.Fatalf("first batch %d", h.BaseOffset)
	}
	if _, err := l.Read(8, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatal("read below start")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, cfg)
	defer l.Close()
	if l.StartOffset() != 9 {
		t.Fatalf("start offset after reopen %d", l.StartOffset())
	}
	if err := l.DeleteRecordsBefore(l.HighWatermark()); err != nil || l.StartOffset() != 40 {
		t.Fatalf("delete to hw: %v %d", err, l.StartOffset())
	}
	if c, err := l.Read(40, 10); err != nil || c.Size != 0 {
		t.Fatal("read at hw after delete")
	}
}

func TestChunkOutlivesRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, dir, Config{SegmentBytes: 1024})
	defer l.Close()
	first := simpleBatch(t, 1, 500, 1, 1)
	want := withBase(first, 0)
	mustAppend(t, l, first)
	mustAppend(t, l, simpleBatch(t, 1, 700, 1, 2))
	c, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.log")); !os.IsNotExist(err) {
		t.Fatal("segment not deleted")
	}
	got, err := c.AppendTo(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("chunk after delete: %v", err)
	}
	c.Release()
	if _, err := c.AppendTo(nil); !errors.Is(err, ErrReleased) {
		t.Fatal("use after release")
	}
}
