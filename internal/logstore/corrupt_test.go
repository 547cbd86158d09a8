package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corruptFixture is a closed log of several segments for a damage test.
type corruptFixture struct {
	dir     string
	logs    []string // segment files, oldest first
	batches [][]byte // as stored, base offsets set
	// last segment: position and size of its batches
	lastPos, lastSize []int64
	index             map[string][]byte // index files as written
}

func corruptConfig() Config { return Config{SegmentBytes: 2048, IndexIntervalBytes: 256} }

func newCorruptFixture(t *testing.T) *corruptFixture {
	t.Helper()
	fx := &corruptFixture{dir: t.TempDir(), index: map[string][]byte{}}
	l := mustOpen(t, fx.dir, corruptConfig())
	for i := 0; i < 31; i++ {
		b := simpleBatch(t, 1+i%3, 60+i*5%90, 1000+int64(i)*10, i)
		orig := bytes.Clone(b)
		res := mustAppend(t, l, b)
		fx.batches = append(fx.batches, withBase(orig, res.BaseOffset))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fx.logs, _ = filepath.Glob(filepath.Join(fx.dir, "*.log"))
	slices.Sort(fx.logs)
	if len(fx.logs) < 4 {
		t.Fatalf("fixture has %d segments", len(fx.logs))
	}
	data, _ := os.ReadFile(fx.logs[len(fx.logs)-1])
	for p := int64(0); p < int64(len(data)); {
		n := int64(binary.BigEndian.Uint32(data[p+8:])) + 12
		fx.lastPos, fx.lastSize = append(fx.lastPos, p), append(fx.lastSize, n)
		p += n
	}
	if len(fx.lastPos) < 3 {
		t.Fatalf("last segment has %d batches", len(fx.lastPos))
	}
	for _, suf := range []string{"*.index", "*.timeindex"} {
		m, _ := filepath.Glob(filepath.Join(fx.dir, suf))
		for _, p := range m {
			fx.index[p], _ = os.ReadFile(p)
		}
	}
	return fx
}

func (fx *corruptFixture) last() string { return fx.logs[len(fx.logs)-1] }

func (fx *corruptFixture) sibling(log, suffix string) string {
	return strings.TrimSuffix(log, ".log") + suffix
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x5a
	if _, err := f.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestCorruption(t *testing.T) {
	t.Parallel()
	type tc struct {
		name   string
		damage func(t *testing.T, fx *corruptFixture)
		// keep is how many batches survive (-1: all but those of the last
		// segment from lastKeep on); errFile is the file Open must name.
		keepLast     int // batches of the last segment kept; -1 all
		errFile      func(fx *corruptFixture) string
		errIs        error
		wantErrorLog bool // recovery logs at error level
		nothingToCut bool // damage leaves no bytes for recovery to cut
	}
	nth := func(i int) func(fx *corruptFixture) string {
		return func(fx *corruptFixture) string { return fx.logs[i] }
	}
	cases := []tc{
		{name: "tail truncated mid-batch", keepLast: -2, damage: func(t *testing.T, fx *corruptFixture) {
			n := len(fx.lastPos) - 1
			_ = os.Truncate(fx.last(), fx.lastPos[n]+fx.lastSize[n]/2)
		}},
		{name: "tail truncated mid-header", keepLast: -2, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Truncate(fx.last(), fx.lastPos[len(fx.lastPos)-1]+30)
		}},
		{name: "tail truncated to the segment start", keepLast: 0, nothingToCut: true, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Truncate(fx.last(), 0)
		}},
		{name: "flipped byte in the last batch", keepLast: -2, damage: func(t *testing.T, fx *corruptFixture) {
			n := len(fx.lastPos) - 1
			flipByte(t, fx.last(), fx.lastPos[n]+fx.lastSize[n]/2)
		}},
		{name: "flipped base offset of the last batch (outside the CRC)", keepLast: -2, damage: func(t *testing.T, fx *corruptFixture) {
			flipByte(t, fx.last(), fx.lastPos[len(fx.lastPos)-1]+7)
		}},
		{name: "flipped length of the last batch", keepLast: -2, damage: func(t *testing.T, fx *corruptFixture) {
			flipByte(t, fx.last(), fx.lastPos[len(fx.lastPos)-1]+10)
		}},
		{name: "flipped byte mid last segment, whole batches after", keepLast: 1, wantErrorLog: true, damage: func(t *testing.T, fx *corruptFixture) {
			flipByte(t, fx.last(), fx.lastPos[1]+fx.lastSize[1]/2)
		}},
		{name: "zeros after the tail", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			appendBytes(t, fx.last(), make([]byte, 5000))
		}},
		{name: "garbage after the tail", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			appendBytes(t, fx.last(), bytes.Repeat([]byte("garbage!"), 20))
		}},
		{name: "half a batch copied after the tail", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			b := fx.batches[len(fx.batches)-1]
			appendBytes(t, fx.last(), b[:len(b)/2])
		}},
		{name: "flipped byte in a non-last segment", errFile: nth(1), errIs: ErrCorruptSegment, damage: func(t *testing.T, fx *corruptFixture) {
			fi, _ := os.Stat(fx.logs[1])
			flipByte(t, fx.logs[1], fi.Size()/2)
		}},
		{name: "flipped byte in the first segment's first header", errFile: nth(0), errIs: ErrCorruptSegment, damage: func(t *testing.T, fx *corruptFixture) {
			flipByte(t, fx.logs[0], 16) // magic
		}},
		{name: "truncated non-last segment", errFile: nth(1), errIs: ErrCorruptSegment, damage: func(t *testing.T, fx *corruptFixture) {
			fi, _ := os.Stat(fx.logs[1])
			_ = os.Truncate(fx.logs[1], fi.Size()-3)
		}},
		{name: "missing middle segment", errFile: nth(2), errIs: ErrCorruptSegment, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Remove(fx.logs[1])
		}},
		{name: "deleted index", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Remove(fx.sibling(fx.logs[1], ".index"))
		}},
		{name: "garbage index", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.WriteFile(fx.sibling(fx.logs[2], ".index"), bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100), 0o644)
		}},
		{name: "flipped index entry", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			flipByte(t, fx.sibling(fx.logs[0], ".index"), indexHeaderSize+5)
		}},
		{name: "truncated index", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Truncate(fx.sibling(fx.logs[0], ".index"), indexHeaderSize+4)
		}},
		{name: "deleted time index", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Remove(fx.sibling(fx.logs[1], ".timeindex"))
		}},
		{name: "garbage time index", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.WriteFile(fx.sibling(fx.logs[0], ".timeindex"), []byte("not an index"), 0o644)
		}},
		{name: "deleted indexes of the last segment", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.Remove(fx.sibling(fx.last(), ".index"))
			_ = os.Remove(fx.sibling(fx.last(), ".timeindex"))
		}},
		{name: "orphan index and temp file", keepLast: -1, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.WriteFile(filepath.Join(fx.dir, "00000000000099999999.index"), []byte("x"), 0o644)
			_ = os.WriteFile(filepath.Join(fx.dir, checkpointName+".123.tmp"), []byte("x"), 0o644)
		}},
		{name: "garbage checkpoint", errIs: ErrCorruptCheckpoint, errFile: func(fx *corruptFixture) string { return checkpointName }, damage: func(t *testing.T, fx *corruptFixture) {
			_ = os.WriteFile(filepath.Join(fx.dir, checkpointName), []byte("0\n"), 0o644)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newCorruptFixture(t)
			c.damage(t, fx)
			var logBuf bytes.Buffer
			cfg := corruptConfig()
			cfg.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
			l, err := Open(fx.dir, cfg)
			if c.errFile != nil {
				if err == nil {
					l.Close()
					t.Fatal("Open succeeded on a damaged log")
				}
				if !errors.Is(err, c.errIs) || !strings.Contains(err.Error(), filepath.Base(c.errFile(fx))) {
					t.Fatalf("Open error %q does not name %s / wrap %v", err, filepath.Base(c.errFile(fx)), c.errIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			if got := strings.Contains(logBuf.String(), "level=ERROR"); got != c.wantErrorLog {
				t.Fatalf("error-level log %v, want %v:\n%s", got, c.wantErrorLog, logBuf.String())
			}
			inLast := len(fx.lastPos)
			want := fx.batches
			switch {
			case c.keepLast == -2:
				want = want[:len(want)-1]
			case c.keepLast >= 0:
				want = want[:len(want)-inLast+c.keepLast]
			}
			if len(want) < len(fx.batches) && !c.nothingToCut && !strings.Contains(logBuf.String(), filepath.Base(fx.last())) {
				t.Fatalf("the cut was not logged with the file name:\n%s", logBuf.String())
			}
			checkLogHolds(t, l, want)
			// Indexes rebuilt exactly as the appends wrote them.
			if c.keepLast == -1 {
				for p, b := range fx.index {
					if strings.HasPrefix(filepath.Base(p), filepath.Base(strings.TrimSuffix(fx.last(), ".log"))) {
						continue // the active segment's indexes are rewritten in the active form
					}
					if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
						t.Fatalf("%s not restored", filepath.Base(p))
					}
				}
			}
			// Appending continues, and a second recovery agrees.
			end := l.EndOffset()
			res := mustAppend(t, l, simpleBatch(t, 2, 10, 5000, 1))
			if res.BaseOffset != end {
				t.Fatalf("append at %d, want %d", res.BaseOffset, end)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := mustOpen(t, fx.dir, corruptConfig())
			defer l2.Close()
			checkLogHolds(t, l2, append(slices.Clip(want), withBase(simpleBatch(t, 2, 10, 5000, 1), end)))
		})
	}
}

// checkLogHolds checks that l holds exactly want, findable by every
// offset and by timestamp.
func checkLogHolds(t *testing.T, l *Log, want [][]byte) {
	t.Helper()
	got := readAll(t, l)
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
		h, _ := ParseBatchHeader(want[i])
		c, err := l.Read(h.BaseOffset+int64(h.LastOffsetDelta), 1)
		if err != nil || c.Size != int64(len(want[i])) {
			t.Fatalf("Read(%d): %v", h.BaseOffset, err)
		}
		c.Release()
		off, ts, err := l.OffsetForTimestamp(h.FirstTimestamp)
		if err != nil || off != h.BaseOffset || ts != h.FirstTimestamp {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d", h.FirstTimestamp, off, ts, err, h.BaseOffset)
		}
	}
}
