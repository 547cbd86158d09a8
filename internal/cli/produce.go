package cli

// produce.go implements `sluice produce TOPIC`: one record per input line,
// from stdin or --file, in the manner of kafka-console-producer and kcat -P.
//
// A line is split into key and value at the first --key-separator when one is
// given; a line without the separator becomes a record with a null key and the
// whole line as value (as kcat -K does). The trailing "\n" is not part of the
// record; every other byte is kept, "\r" included. Lines may be up to
// maxLineBytes long.
//
// Records are handed to franz-go as they are read, so input of any length
// streams through a bounded buffer (kgo's MaxBufferedRecords applies
// backpressure to reading). The command exits non-zero when any record failed;
// the first few failures are printed as they happen, in Kafka's terms.
//
// Interruption (SIGINT cancels ctx): reading stops, records already handed to
// the client are flushed for up to flushOnInterrupt, the summary is printed.
// A read blocked on a terminal cannot be interrupted in Go; that one
// goroutine ends when the read returns or the process exits.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("produce", "produce records to a topic from lines of stdin or a file", runProduce)
}

const (
	maxLineBytes     = 16 << 20
	flushOnInterrupt = 10 * time.Second
	maxErrorsShown   = 5
	// progressEvery bounds how often the in-place progress line is redrawn.
	progressEvery = 250 * time.Millisecond
	// progressAfter keeps short runs quiet unless --progress is given.
	progressAfter = time.Second
)

// produceInput is where produce reads when no --file is given; tests replace
// it.
var produceInput io.Reader = os.Stdin

// lockedWriter serialises writes from the promise and progress goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// produceStats are updated from franz-go's promise goroutine and read by the
// progress goroutine and the summary.
type produceStats struct {
	sent     atomic.Int64 // handed to the client
	acked    atomic.Int64
	failed   atomic.Int64
	bytes    atomic.Int64 // key+value bytes of acked records
	firstErr atomic.Pointer[error]
}

func runProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn        connFlags
		file        string
		keySep      string
		acks        string
		compression string
		partition   int
		headers     stringList
		progress    bool
		quiet       bool
		linger      time.Duration
		deliveryTO  time.Duration
	)
	fs := newFlagSet("produce", "sluice produce TOPIC [flags] < lines", stderr)
	conn.register(fs)
	fs.StringVar(&file, "file", "", "read lines from this file instead of stdin (- for stdin)")
	fs.StringVar(&file, "f", "", "shorthand for --file")
	fs.StringVar(&keySep, "key-separator", "", "split each line into key and value at the first occurrence of this string")
	fs.StringVar(&keySep, "K", "", "shorthand for --key-separator")
	fs.StringVar(&acks, "acks", "all", "acks: all (wait for the durable write), 1 (leader) or 0 (none)")
	fs.StringVar(&compression, "compression", "none", "compression.type: none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&partition, "partition", -1, "produce every record to this partition (-1: partition by key, sticky for null keys)")
	fs.IntVar(&partition, "p", -1, "shorthand for --partition")
	fs.Var(&headers, "header", "add header key=value to every record (repeatable)")
	fs.BoolVar(&progress, "progress", false, "show the progress line even when stderr is not a terminal")
	fs.BoolVar(&quiet, "quiet", false, "print no progress and no summary")
	fs.BoolVar(&quiet, "q", false, "shorthand for --quiet")
	fs.DurationVar(&linger, "linger", 5*time.Millisecond, "linger.ms: how long a partition's batch waits for more records")
	fs.DurationVar(&deliveryTO, "delivery-timeout", 2*time.Minute, "delivery.timeout.ms: fail a record not acknowledged within this time")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cli: produce: want exactly one topic")
	}
	topic := pos[0]
	part, err := parsePartition(partition)
	if err != nil {
		return err
	}
	hdrs, err := parseHeaders(headers)
	if err != nil {
		return err
	}
	opts, err := parseAcks(acks)
	if err != nil {
		return err
	}
	comp, err := parseCompression(compression)
	if err != nil {
		return err
	}
	opts = append(opts, comp,
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(linger),
		kgo.RecordDeliveryTimeout(deliveryTO),
		// As the Java producer does: the broker's auto.create.topics.enable
		// decides whether producing to a new topic creates it.
		kgo.AllowAutoTopicCreation(),
	)
	if part >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}

	in := produceInput
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("cli: produce: %w", err)
		}
		defer f.Close()
		in = f
	}

	cl, err := conn.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	errw := &lockedWriter{w: stderr}
	var st produceStats
	var prog *progressLine // set before the first Produce, read-only after
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			n := st.failed.Add(1)
			st.firstErr.CompareAndSwap(nil, &err)
			if n <= maxErrorsShown && !quiet {
				prog.message(errw, fmt.Sprintf("cli: produce: record to %s[%d]: %v", r.Topic, r.Partition, err))
			}
			return
		}
		st.acked.Add(1)
		st.bytes.Add(int64(len(r.Key) + len(r.Value)))
	}

	start := time.Now()
	if !quiet && (progress || isTerminal(stderr)) {
		delay := progressAfter
		if progress {
			delay = 0
		}
		prog = startProgress(errw, delay, func(elapsed time.Duration) string {
			acked := st.acked.Load()
			return fmt.Sprintf("%s records sent, %s acked, %s records/s",
				formatCount(st.sent.Load()), formatCount(acked), formatCount(int64(rate(acked, elapsed))))
		})
	}

	// Records are produced under prodCtx, not ctx, so that an interrupt
	// does not fail the records already buffered: they get flushOnInterrupt
	// to be delivered, then prodCtx is cancelled to fail the rest.
	prodCtx, cancelProd := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProd()
	stopWatch := context.AfterFunc(ctx, func() { time.AfterFunc(flushOnInterrupt, cancelProd) })
	defer stopWatch()

	lines := make(chan *kgo.Record, 256)
	done := make(chan struct{})
	var readErr error
	var readerWG sync.WaitGroup
	readerWG.Go(func() {
		defer close(lines)
		readErr = readRecords(in, keySep, part, hdrs, lines, done)
	})

	interrupted := false
loop:
	for {
		select {
		case r, ok := <-lines:
			if !ok {
				break loop
			}
			st.sent.Add(1)
			cl.Produce(prodCtx, r, promise)
		case <-ctx.Done():
			interrupted = true
			break loop
		}
	}
	close(done)
	if !interrupted {
		readerWG.Wait() // lines is closed: the reader has returned
	}

	flushErr := cl.Flush(prodCtx)
	elapsed := time.Since(start)
	prog.stop()

	acked, failed, sent := st.acked.Load(), st.failed.Load(), st.sent.Load()
	if !quiet {
		fmt.Fprintf(errw, "Produced %s record%s (%s) to %s in %s: %s records/s",
			formatCount(acked), plural(acked), formatBytes(st.bytes.Load()), topic,
			elapsed.Round(time.Millisecond), formatCount(int64(rate(acked, elapsed))))
		if failed > 0 {
			fmt.Fprintf(errw, "; %s failed", formatCount(failed))
		}
		if interrupted {
			fmt.Fprint(errw, "; interrupted")
		}
		fmt.Fprintln(errw)
	}
	switch {
	case !interrupted && readErr != nil:
		return fmt.Errorf("cli: produce: reading input: %w", readErr)
	case failed > 0:
		return fmt.Errorf("cli: produce: %d of %d records failed; first error: %w", failed, sent, *st.firstErr.Load())
	case flushErr != nil:
		return fmt.Errorf("cli: produce: %d of %d records unacknowledged: %w", sent-acked, sent, flushErr)
	}
	return nil
}

// readRecords turns lines of in into records on out until EOF, a read error
// or done is closed. Each line is copied once; key and value share that copy.
func readRecords(in io.Reader, keySep string, partition int32, hdrs []kgo.RecordHeader, out chan<- *kgo.Record, done <-chan struct{}) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	sep := []byte(keySep)
	for lineNo := 1; sc.Scan(); lineNo++ {
		// make, not append to nil: an empty line is an empty value, not a
		// null one (a tombstone).
		line := make([]byte, len(sc.Bytes()))
		copy(line, sc.Bytes())
		r := &kgo.Record{Value: line, Headers: hdrs}
		if partition >= 0 {
			r.Partition = partition
		}
		if len(sep) > 0 {
			if i := bytes.Index(line, sep); i >= 0 { // the FIRST separator
				r.Key, r.Value = line[:i:i], line[i+len(sep):]
			}
		}
		select {
		case out <- r:
		case <-done:
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d bytes", maxLineBytes)
		}
		return err
	}
	return nil
}

// parseHeaders turns --header k=v flags into record headers; unlike configs,
// a header key may repeat (Kafka headers are a list, not a map).
func parseHeaders(items []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("cli: --header %q: want key=value", it)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressLine redraws one status line in place ("\r" + text, padded over
// the previous text) at most every progressEvery. Its goroutine stops on stop.
type progressLine struct {
	w    io.Writer
	text func(elapsed time.Duration) string
	quit chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex // guards drawn, lastLen and writes to w
	drawn   bool
	lastLen int
}

func startProgress(w io.Writer, delay time.Duration, text func(elapsed time.Duration) string) *progressLine {
	p := &progressLine{w: w, text: text, quit: make(chan struct{})}
	start := time.Now()
	p.wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case now := <-t.C:
				if el := now.Sub(start); el >= delay {
					p.draw(el)
				}
			}
		}
	})
	return p
}

func (p *progressLine) draw(elapsed time.Duration) {
	s := p.text(elapsed)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, "\r"+s+p.padLocked(len(s)))
	p.lastLen = len(s)
	p.drawn = true
}

// padLocked returns the spaces that blank out the rest of the previous line.
func (p *progressLine) padLocked(n int) string {
	if d := p.lastLen - n; d > 0 {
		return strings.Repeat(" ", d)
	}
	return ""
}

// message prints msg on a line of its own, over the progress line if one is
// drawn (the next tick redraws it below). On a nil progressLine it simply
// prints msg to w.
func (p *progressLine) message(w io.Writer, msg string) {
	if p == nil {
		fmt.Fprintln(w, msg)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r"+msg+p.padLocked(len(msg))+"\n")
		p.lastLen = 0
		p.drawn = false
		return
	}
	fmt.Fprintln(p.w, msg)
}

// stop ends the goroutine and moves past the progress line so the summary
// starts on a fresh line. Safe on nil.
func (p *progressLine) stop() {
	if p == nil {
		return
	}
	close(p.quit)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
