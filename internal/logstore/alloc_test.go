package logstore

import (
	"testing"
)

// The hot paths allocate nothing per append or per read.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, p := range []FlushPolicy{FlushNone, FlushAlways} {
		l := mustOpen(t, t.TempDir(), Config{Flush: p, IndexIntervalBytes: 1024})
		b := simpleBatch(t, 16, 1024, 1700000000000, 1)
		mustAppend(t, l, b) // warm up
		if a := testing.AllocsPerRun(200, func() {
			if _, err := l.Append(b, AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: Append allocates %.1f times per call", p, a)
		}
		dst := make([]byte, 0, 1<<20)
		off := int64(0)
		if a := testing.AllocsPerRun(200, func() {
			c, err := l.Read(off, 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			if dst, err = c.AppendTo(dst[:0]); err != nil {
				t.Fatal(err)
			}
			c.Release()
			off = (off + 16*5) % l.HighWatermark()
		}); a != 0 {
			t.Errorf("%s: Read+AppendTo allocates %.1f times per call", p, a)
		}
		l.Close()
	}
}
