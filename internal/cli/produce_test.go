package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// withInput makes s the standard input of produce for one test.
func withInput(t *testing.T, s string) {
	t.Helper()
	old := produceInput
	produceInput = strings.NewReader(s)
	t.Cleanup(func() { produceInput = old })
}

func TestProduceKeysThenConsumeWithFormat(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "lines", "--partitions", "1", "-b", b).ok(t)

	withInput(t, "k1:v1\nk2:v:2\nnokey\n:emptykey\n\n")
	r := sluice(t, "produce", "lines", "--key-separator", ":", "-b", b).ok(t)
	mustContain(t, r.stderr, "Produced 5 records", "to lines")

	r = sluice(t, "consume", "lines", "--from", "beginning", "-n", "5", "--format", `%o [%k] (%K) %v|%S\n`, "-b", b).ok(t)
	want := "0 [k1] (2) v1|2\n" +
		"1 [k2] (2) v:2|3\n" + // split at the first separator only
		"2 [] (-1) nokey|5\n" + // no separator: null key
		"3 [] (0) emptykey|8\n" + // empty, non-null key
		"4 [] (-1) |0\n" // empty line: empty value
	if r.stdout != want {
		t.Fatalf("consume output:\n%s\nwant:\n%s", r.stdout, want)
	}
	mustContain(t, r.stderr, "Consumed 5 records.")

	// Default format: the value and a newline; -n stops early.
	r = sluice(t, "consume", "lines", "--from", "1", "-n", "2", "-q", "-b", b).ok(t)
	if r.stdout != "v:2\nnokey\n" || r.stderr != "" {
		t.Fatalf("default format from offset 1: %q (stderr %q)", r.stdout, r.stderr)
	}
}

func TestProduceFileHeadersPartition(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "p3", "--partitions", "3", "-b", b).ok(t)
	path := filepath.Join(t.TempDir(), "in.txt")
	var in strings.Builder
	for i := range 50 {
		in.WriteString("line-")
		in.WriteString(string(rune('a' + i%26)))
		in.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sluice(t, "produce", "p3", "--file", path, "--partition", "2", "--header", "src=test", "--header", "n=1",
		"--acks", "1", "--compression", "zstd", "-b", b).ok(t)

	r := sluice(t, "consume", "p3", "--from", "beginning", "-n", "50", "--format", `%p %h %v\n`, "-b", b).ok(t)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("got %d lines:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines {
		want := "2 src=test,n=1 line-" + string(rune('a'+i%26))
		if l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
	r = sluice(t, "topic", "describe", "p3", "--json", "-b", b).ok(t)
	mustContain(t, r.stdout, `"end_offset": 50`)
}

func TestProduceFailureExitsNonZero(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "small", "-b", b).ok(t)
	// A 2 MB line cannot fit in a 1 MB batch: franz-go fails that record
	// with MESSAGE_TOO_LARGE; the others go through.
	withInput(t, "ok1\n"+strings.Repeat("x", 2<<20)+"\nok2\n")
	r := sluice(t, "produce", "small", "-b", b)
	r.fails(t, "1 of 3 records failed")
	r.fails(t, "MESSAGE_TOO_LARGE")
	mustContain(t, r.stderr, "Produced 2 records", "1 failed")

	r = sluice(t, "consume", "small", "--from", "beginning", "--timeout", "300ms", "-b", b).ok(t)
	if r.stdout != "ok1\nok2\n" {
		t.Fatalf("consume: %q", r.stdout)
	}
}

func TestProduceUsageErrors(t *testing.T) {
	const b = "127.0.0.1:1"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", "-b", b}, "exactly one topic"},
		{[]string{"produce", "t", "--acks", "2", "-b", b}, "--acks"},
		{[]string{"produce", "t", "--compression", "brotli", "-b", b}, "--compression"},
		{[]string{"produce", "t", "--header", "nokv", "-b", b}, "--header"},
		{[]string{"produce", "t", "--partition", "-2", "-b", b}, "--partition"},
		{[]string{"produce", "t", "--file", "/nonexistent/x", "-b", b}, "no such file"},
	} {
		sluice(t, tc.args...).fails(t, tc.want)
	}
}

// slowReader yields one line per read with a pause, to keep produce running
// long enough for progress lines.
type slowReader struct {
	lines int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.lines == 0 {
		return 0, os.ErrClosed
	}
	time.Sleep(s.pause)
	s.lines--
	return copy(p, "x\n"), nil
}

func TestProduceProgressAndReadError(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "slow", "-b", b).ok(t)
	old := produceInput
	produceInput = &slowReader{lines: 8, pause: 80 * time.Millisecond}
	t.Cleanup(func() { produceInput = old })

	r := sluice(t, "produce", "slow", "--progress", "-b", b)
	// The reader ends with an error rather than EOF: reported, non-zero.
	r.fails(t, "reading input")
	mustContain(t, r.stderr, "\r", "records sent", "acked", "records/s", "Produced 8 records")
	// Without --progress and with a non-terminal stderr: no progress line.
	produceInput = strings.NewReader("a\nb\n")
	r = sluice(t, "produce", "slow", "-b", b).ok(t)
	if strings.Contains(r.stderr, "\r") {
		t.Fatalf("progress line on a non-terminal: %q", r.stderr)
	}
}

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	w := &lockedWriter{w: &buf}
	p := &progressLine{w: w, text: func(time.Duration) string { return "" }, quit: make(chan struct{})}
	p.text = func(time.Duration) string { return "1,000 records" }
	p.draw(time.Second)
	p.text = func(time.Duration) string { return "2 recs" }
	p.draw(time.Second)
	p.message(w, "an error")
	p.draw(time.Second)
	close(p.quit)
	p.mu.Lock()
	drawn := p.drawn
	p.mu.Unlock()
	if !drawn {
		t.Fatal("not drawn")
	}
	// The shorter redraw pads over the longer one; a message replaces the
	// line and the next draw starts afresh.
	want := "\r1,000 records" + "\r2 recs       " + "\ran error\n" + "\r2 recs"
	if buf.String() != want {
		t.Fatalf("got %q\nwant %q", buf.String(), want)
	}
	var nilp *progressLine
	nilp.message(w, "plain")
	nilp.stop()
	if !strings.HasSuffix(buf.String(), "plain\n") {
		t.Fatalf("nil progress message: %q", buf.String())
	}
}

// noLeaks fails the test if goroutines started during it are still running
// once its cleanups (broker, clients) have run.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func TestProduceInterrupt(t *testing.T) {
	noLeaks(t)
	b := startBroker(t)
	sluice(t, "topic", "create", "intr", "-b", b).ok(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() }) // ends the reader blocked in Read
	old := produceInput
	produceInput = pr
	t.Cleanup(func() { produceInput = old })

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		io.WriteString(pw, "a\nb\nc\n")
		time.Sleep(300 * time.Millisecond)
		cancel() // like SIGINT while the input is still open
	}()
	start := time.Now()
	r := sluiceCtx(ctx, t, "produce", "intr", "-b", b).ok(t)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %s to stop", el)
	}
	mustContain(t, r.stderr, "Produced 3 records", "interrupted")
	r = sluice(t, "consume", "intr", "--from", "beginning", "-n", "3", "-b", b).ok(t)
	if r.stdout != "a\nb\nc\n" {
		t.Fatalf("consume: %q", r.stdout)
	}
}
