package logstore

import (
	"bytes"
	"io"
	"net"
	"testing"
)

func TestReadMaxBytes(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{Flush: FlushNone, IndexIntervalBytes: 300})
	defer l.Close()
	var sizes []int64
	for i := 0; i < 50; i++ {
		b := simpleBatch(t, 2, 50+i*3, 1, i)
		sizes = append(sizes, int64(len(b)))
		mustAppend(t, l, b)
	}
	for _, maxBytes := range []int32{0, 1, 200, 1000, 5000, 1 << 20} {
		for start := 0; start < 50; start += 7 {
			c, err := l.Read(int64(start*2+1), maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			// Expect the largest whole-batch prefix within maxBytes, at least one.
			var want int64
			for i := start; i < 50; i++ {
				if want > 0 && want+sizes[i] > int64(maxBytes) {
					break
				}
				want += sizes[i]
			}
			if c.Size != want {
				t.Fatalf("Read(%d, %d): %d bytes, want %d", start*2+1, maxBytes, c.Size, want)
			}
			c.Release()
		}
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{SegmentBytes: 2048, IndexIntervalBytes: 256})
	defer l.Close()
	type rec struct{ off, ts int64 }
	var all []rec
	// Non-monotonic timestamps across and within batches.
	tsOf := func(i, j int) int64 { return int64((i*37+j*11)%97) * 10 }
	for i := 0; i < 120; i++ {
		spec := batchSpec{FirstTs: tsOf(i, 0)}
		for j := 0; j < 1+i%4; j++ {
			spec.Records = append(spec.Records, testRecord{Value: []byte("v"), TsDelta: tsOf(i, j) - spec.FirstTs})
		}
		res := mustAppend(t, l, encodeBatch(t, spec))
		for j := range spec.Records {
			all = append(all, rec{res.BaseOffset + int64(j), tsOf(i, j)})
		}
	}
	for target := int64(-5); target <= 1000; target += 7 {
		wo, wt := int64(-1), int64(-1)
		for _, r := range all {
			if r.ts >= target {
				wo, wt = r.off, r.ts
				break
			}
		}
		o, ts, err := l.OffsetForTimestamp(target)
		if err != nil || o != wo || ts != wt {
			t.Fatalf("OffsetForTimestamp(%d) = %d,%d,%v want %d,%d", target, o, ts, err, wo, wt)
		}
	}
	mo, mt := l.MaxTimestamp()
	var bo, bt int64 = -1, -1
	for _, r := range all {
		if r.ts > bt {
			bo, bt = r.off, r.ts
		}
	}
	if mo != bo || mt != bt {
		t.Fatalf("MaxTimestamp = %d,%d want %d,%d", mo, mt, bo, bt)
	}
	// After DeleteRecordsBefore, answers never go below the start offset.
	if err := l.DeleteRecordsBefore(100); err != nil {
		t.Fatal(err)
	}
	if o, _, _ := l.OffsetForTimestamp(-1); o != 100 {
		t.Fatalf("OffsetForTimestamp after delete = %d, want 100", o)
	}
}

func TestOffsetForTimestampCompressed(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{})
	defer l.Close()
	spec := batchSpec{FirstTs: 100, Gzip: true, Records: []testRecord{{Value: []byte("a")}, {Value: []byte("b"), TsDelta: 50}, {Value: []byte("c"), TsDelta: 20}}}
	mustAppend(t, l, encodeBatch(t, spec))
	spec.FirstTs = 200
	mustAppend(t, l, encodeBatch(t, spec))
	cases := []struct{ ts, off, got int64 }{
		{0, 0, 100},   // first record qualifies: exact
		{120, 0, 150}, // inside the batch: batch granularity, MaxTimestamp
		{160, 3, 200},
		{251, -1, -1},
	}
	for _, c := range cases {
		o, ts, err := l.OffsetForTimestamp(c.ts)
		if err != nil || o != c.off || ts != c.got {
			t.Fatalf("OffsetForTimestamp(%d) = %d,%d,%v want %d,%d", c.ts, o, ts, err, c.off, c.got)
		}
	}
	if o, ts := l.MaxTimestamp(); o != 5 || ts != 250 {
		t.Fatalf("MaxTimestamp %d %d", o, ts)
	}
}

func TestEmptyLog(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{})
	defer l.Close()
	if o, ts, err := l.OffsetForTimestamp(0); o != -1 || ts != -1 || err != nil {
		t.Fatal("OffsetForTimestamp on empty log")
	}
	if o, ts := l.MaxTimestamp(); o != -1 || ts != -1 {
		t.Fatal("MaxTimestamp on empty log")
	}
	if c, err := l.Read(0, 100); err != nil || c.Size != 0 {
		t.Fatal("Read on empty log")
	}
	n := 0
	if err := l.ScanBatches(0, func(*BatchHeader) bool { n++; return true }); err != nil || n != 0 {
		t.Fatal("ScanBatches on empty log")
	}
}

func TestChunkWriteToTCP(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{Flush: FlushNone})
	defer l.Close()
	for i := 0; i < 100; i++ {
		mustAppend(t, l, simpleBatch(t, 4, 1000, 1, i))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		b, _ := io.ReadAll(conn)
		conn.Close()
		got <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for off := int64(0); off < l.HighWatermark(); {
		c, err := l.Read(off, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		want, _ = c.AppendTo(want)
		n, err := c.WriteTo(conn)
		if err != nil || n != c.Size {
			t.Fatalf("WriteTo: %d of %d, %v", n, c.Size, err)
		}
		var buf bytes.Buffer // the pread fallback
		if n, err := c.WriteTo(&buf); err != nil || n != c.Size || !bytes.Equal(buf.Bytes(), want[len(want)-int(c.Size):]) {
			t.Fatalf("WriteTo buffer: %v", err)
		}
		c.Release()
		off += int64(c.Size / int64(len(simpleBatch(t, 4, 1000, 1, 0))) * 4)
	}
	conn.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("received %d bytes, want %d", len(b), len(want))
	}
}

func TestScanBatches(t *testing.T) {
	t.Parallel()
	l := mustOpen(t, t.TempDir(), Config{SegmentBytes: 1024, IndexIntervalBytes: 200})
	defer l.Close()
	for i := 0; i < 30; i++ {
		mustAppend(t, l, encodeBatch(t, batchSpec{FirstTs: 1, ProducerID: int64(i), Records: []testRecord{{Value: make([]byte, 100)}, {Value: nil}}}))
	}
	var bases []int64
	err := l.ScanBatches(13, func(h *BatchHeader) bool {
		if h.ProducerID != h.BaseOffset/2 {
			t.Errorf("producer id %d at %d", h.ProducerID, h.BaseOffset)
		}
		bases = append(bases, h.BaseOffset)
		return h.BaseOffset < 40
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bases) != 15 || bases[0] != 12 || bases[len(bases)-1] != 40 {
		t.Fatalf("scanned %v", bases)
	}
}

func TestMaxTimestampOnlyCommitted(t *testing.T) {
	t.Parallel()
	s := newSegmentState(0)
	h := BatchHeader{MaxTimestamp: 10}
	s.account(0, 100, &h, 0, 0, 4096, 0)
	s.commit(100)
	h = BatchHeader{MaxTimestamp: 50, LastOffsetDelta: 2}
	s.account(100, 100, &h, 1, 1, 4096, 0)
	h = BatchHeader{MaxTimestamp: 70}
	s.account(200, 100, &h, 4, 0, 4096, 0)
	if s.cMaxTs != 10 || s.cMaxTsOff != 0 || s.maxTs != 70 {
		t.Fatalf("before commit: %d@%d (all %d)", s.cMaxTs, s.cMaxTsOff, s.maxTs)
	}
	s.commit(200)
	if s.cMaxTs != 50 || s.cMaxTsOff != 2 || len(s.pendMax) != 1 {
		t.Fatalf("after partial commit: %d@%d", s.cMaxTs, s.cMaxTsOff)
	}
	s.commit(300)
	if s.cMaxTs != 70 || s.cMaxTsOff != 4 || len(s.pendMax) != 0 {
		t.Fatalf("after commit: %d@%d", s.cMaxTs, s.cMaxTsOff)
	}
}
