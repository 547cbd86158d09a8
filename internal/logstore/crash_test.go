package logstore

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test: a child process (this test binary, re-executed with
// crashChildEnv set) appends under FlushAlways from several goroutines
// and prints every acknowledged append; the parent SIGKILLs it at a
// random moment, reopens the log and checks that every acknowledged batch
// is there, byte for byte, that offsets run from 0 without gaps, and that
// appending continues. The same directory goes through every round, so
// later rounds also recover logs that earlier rounds recovered.

const (
	crashChildEnv   = "SLUICE_LOGSTORE_CRASH_DIR"
	crashWriters    = 6
	crashChildLimit = 20 * time.Second // the child exits on its own after this
)

func crashConfig() Config {
	return Config{SegmentBytes: 48 << 10, IndexIntervalBytes: 1024, Flush: FlushAlways}
}

// crashBatch is the batch writer gid sends as its seq-th append.
func crashBatch(gid, seq int) []byte {
	spec := batchSpec{FirstTs: int64(1_700_000_000_000 + seq)}
	n := 1 + (gid+seq)%4
	for i := 0; i < n; i++ {
		v := make([]byte, 50+(seq*13+gid*7+i)%700)
		for j := range v {
			v[j] = byte(gid*131 + seq*17 + i*3 + j)
		}
		spec.Records = append(spec.Records, testRecord{Key: []byte(fmt.Sprintf("%d/%d/%d", gid, seq, i)), Value: v, TsDelta: int64(i)})
	}
	b, err := buildBatch(spec)
	if err != nil {
		panic(err)
	}
	return b
}

func crashChild(dir string) {
	cfg := crashConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := Open(dir, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "child open: %v\n", err)
		os.Exit(3)
	}
	var wg sync.WaitGroup
	for g := 0; g < crashWriters; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(crashChildLimit)
			for seq := 0; time.Now().Before(deadline); seq++ {
				res, err := l.Append(crashBatch(g, seq), AppendOptions{})
				if err != nil {
					fmt.Fprintf(os.Stderr, "child append: %v\n", err)
					os.Exit(4)
				}
				// One write per line: a line is printed only after the
				// append was acknowledged.
				_, _ = os.Stdout.WriteString(fmt.Sprintf("A %d %d %d %d\n", g, seq, res.BaseOffset, res.LastOffset))
			}
		}()
	}
	wg.Wait()
	_ = l.Close()
}

type crashAck struct {
	gid, seq   int
	base, last int64
}

func TestCrashRecovery(t *testing.T) {
	rounds := 16
	if testing.Short() {
		rounds = 5
	}
	dir := t.TempDir()
	acked := map[int64]crashAck{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	deadline := time.Now().Add(25 * time.Second)
	var recoveryLog bytes.Buffer
	cfg := crashConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&recoveryLog, nil))
	cuts := 0
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		got := runCrashChild(t, dir, time.Duration(5+rng.IntN(120))*time.Millisecond)
		for _, a := range got {
			if prev, dup := acked[a.base]; dup {
				t.Fatalf("round %d: offset %d acknowledged twice (%+v and %+v)", round, a.base, prev, a)
			}
			acked[a.base] = a
		}
		if rng.IntN(2) == 0 {
			// Also model a kill in the middle of a write, which a SIGKILL
			// rarely hits: part of a batch nobody acknowledged.
			tornTail(t, dir, crashBatch(98, round), rng)
		}
		recoveryLog.Reset()
		l := mustOpen(t, dir, cfg)
		if strings.Contains(recoveryLog.String(), "cut") {
			cuts++
		}
		// Offsets run from 0 without gaps, every batch whole.
		var next int64
		if err := l.ScanBatches(0, func(h *BatchHeader) bool {
			if h.BaseOffset != next {
				t.Errorf("round %d: batch at %d, want %d", round, h.BaseOffset, next)
				return false
			}
			next = h.BaseOffset + int64(h.LastOffsetDelta) + 1
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if next != l.EndOffset() || l.StartOffset() != 0 {
			t.Fatalf("round %d: scanned to %d, end %d, start %d", round, next, l.EndOffset(), l.StartOffset())
		}
		readAll(t, l) // validates every batch's CRC
		for base, a := range acked {
			c, err := l.Read(base, 1)
			if err != nil {
				t.Fatalf("round %d: acknowledged offset %d: %v", round, base, err)
			}
			b, err := c.AppendTo(nil)
			c.Release()
			if err != nil {
				t.Fatal(err)
			}
			if want := withBase(crashBatch(a.gid, a.seq), base); !bytes.Equal(b, want) {
				t.Fatalf("round %d: acknowledged batch %+v differs after recovery", round, a)
			}
		}
		res := mustAppend(t, l, crashBatch(99, round))
		if res.BaseOffset != next {
			t.Fatalf("round %d: append after recovery at %d, want %d", round, res.BaseOffset, next)
		}
		acked[res.BaseOffset] = crashAck{99, round, res.BaseOffset, res.LastOffset}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged in this round, end offset %d", round, len(got), res.LastOffset+1)
	}
	t.Logf("recovery cut a torn tail in %d rounds", cuts)
}

// tornTail appends a strict prefix of batch to the newest segment.
func tornTail(t *testing.T, dir string, batch []byte, rng *rand.Rand) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	slices.Sort(logs)
	f, err := os.OpenFile(logs[len(logs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(batch[:1+rng.IntN(len(batch)-1)]); err != nil {
		t.Fatal(err)
	}
}

// runCrashChild runs the child until it has acknowledged something and
// then for about d more, SIGKILLs it, and returns the acknowledged
// appends it printed.
func runCrashChild(t *testing.T, dir string, d time.Duration) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	lines := make(chan []string, 1)
	go func() {
		var got []string
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				break // a partial last line is not an acknowledgement we can read
			}
			if len(got) == 0 {
				close(first)
			}
			got = append(got, line)
		}
		lines <- got
	}()
	select {
	case <-first:
		time.Sleep(d)
	case <-time.After(10 * time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	got := <-lines
	if len(got) == 0 {
		t.Fatalf("child acknowledged nothing; stderr:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "child ") {
		t.Fatalf("child failed:\n%s", stderr.String())
	}
	acks := make([]crashAck, 0, len(got))
	for _, line := range got {
		var a crashAck
		if _, err := fmt.Sscanf(line, "A %d %d %d %d\n", &a.gid, &a.seq, &a.base, &a.last); err != nil {
			t.Fatalf("child line %q: %v", line, err)
		}
		acks = append(acks, a)
	}
	return acks
}
