package cli

// bench.go implements `sluice bench produce|consume|disk`, in the manner of
// Kafka's kafka-producer-perf-test and kafka-consumer-perf-test, plus a raw
// disk baseline so that "acks=all produce MB/s vs what the disk can do" comes
// out of one run (`bench produce --baseline`).
//
// Every run ends with ONE line on stdout of space-separated key=value pairs,
// stable for scripts (new keys may be added at the end; existing ones keep
// their names and units):
//
//	bench=produce topic=T records=N failed=F bytes=B elapsed_s=S records_per_sec=R
//	  mb_per_sec=M avg_ms= p50_ms= p95_ms= p99_ms= p999_ms= max_ms= record_size=
//	  batch_size= linger_ms= acks= compression= partitions=
//	  [disk_write_size= disk_mb_per_sec= disk_syncs_per_sec= produce_vs_disk=]
//	bench=consume topic=T records=N bytes=B elapsed_s=S records_per_sec=R mb_per_sec=M
//	bench=disk dir=D write_size=W writes=N bytes=B elapsed_s=S mb_per_sec=M
//	  syncs_per_sec= sync_p50_ms= sync_p99_ms= sync_max_ms=
//
// MB is 2^20 bytes, as in Kafka's perf tools; bytes count keys plus values.
// Progress lines go to stderr every --reporting-interval.
//
// Produce latency is, per record, the time from the Produce call to its
// promise (Kafka's "send to callback"). Records, their contexts and start
// times live in a preallocated window of slots that bounds the records in
// flight; a slot is reused once its promise has run, so the loop allocates
// nothing per record beyond what franz-go itself does. Latencies go into a
// fixed log-linear histogram (relative error under 3.2%).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("bench", "measure produce, consume and disk throughput (perf-test style)", runBench)
}

const benchUsage = `usage: sluice bench <produce|consume|disk> [flags]

  produce  --topic T --records N --record-size B [--acks all|1|0] [--batch-size B]
           [--linger D] [--compression C] [--throughput R] [--partitions P]
           [--baseline --data-dir DIR]
  consume  --topic T [--records N] [--timeout D]
  disk     [--data-dir DIR] [--write-size B] [--bytes B] [--duration D]

Each prints one key=value line on stdout; see "sluice bench <cmd> -h".
`

const (
	mib = 1 << 20
	// windowBudget sizes the in-flight window of bench produce: enough
	// records to keep many batches in flight (Kafka's buffer.memory is
	// 32 MiB) without pinning much memory for small records.
	windowBudget = 16 << 20
	// recordBatchOverhead is the v2 record batch header, added to the
	// producer's measured record bytes to get the size written per batch.
	recordBatchOverhead = 61
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, benchUsage)
		if len(args) == 0 {
			return errors.New("cli: bench: missing command")
		}
		return nil
	}
	switch args[0] {
	case "produce":
		return benchProduce(ctx, args[1:], stdout, stderr)
	case "consume":
		return benchConsume(ctx, args[1:], stdout, stderr)
	case "disk":
		return benchDiskCmd(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, benchUsage)
	return fmt.Errorf("cli: bench: unknown command %q", args[0])
}

// latencyHist is a log-linear histogram of microsecond values: values below
// 64 have their own bucket, above that each power of two is split into 32
// buckets. Safe for concurrent record.
type latencyHist struct {
	counts [64 + 58*32]atomic.Uint64
	n      atomic.Int64
	sumNs  atomic.Int64
	maxNs  atomic.Int64
}

func histBucket(us uint64) int {
	if us < 64 {
		return int(us)
	}
	l := bits.Len64(us) // >= 7
	return 64 + (l-7)*32 + int(us>>(l-6)) - 32
}

// histMid is the middle of bucket i in microseconds.
func histMid(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	j := i - 64
	shift := j/32 + 1
	low := uint64(j%32+32) << shift
	return float64(low) + float64(uint64(1)<<shift)/2
}

func (h *latencyHist) record(d time.Duration) {
	ns := max(int64(d), 0)
	h.counts[histBucket(uint64(ns/1000))].Add(1)
	h.n.Add(1)
	h.sumNs.Add(ns)
	atomicMax(&h.maxNs, ns)
}

func atomicMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// quantileMs returns the q-quantile (0..1) in milliseconds, never above the
// exact maximum.
func (h *latencyHist) quantileMs(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := max(uint64(q*float64(n)+0.5), 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(histMid(i)/1000, h.maxMs())
		}
	}
	return h.maxMs()
}

func (h *latencyHist) maxMs() float64 { return float64(h.maxNs.Load()) / 1e6 }

func (h *latencyHist) avgMs() float64 {
	if n := h.n.Load(); n > 0 {
		return float64(h.sumNs.Load()) / float64(n) / 1e6
	}
	return 0
}

// benchWindow accumulates the figures of one reporting interval.
type benchWindow struct {
	n, bytes, sumNs, maxNs atomic.Int64
}

// slotCtx is a record's context: the run context plus the record's slot,
// which the promise uses to find the record's start time.
type slotCtx struct {
	context.Context
	idx int32
}

// batchMeter measures the size of the batches the producer writes
// (kgo.HookProduceBatchWritten), the write size the disk baseline mimics.
type batchMeter struct {
	batches, bytes atomic.Int64
}

func (m *batchMeter) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, b kgo.ProduceBatchMetrics) {
	m.batches.Add(1)
	m.bytes.Add(int64(b.CompressedBytes) + recordBatchOverhead)
}

type produceBenchCfg struct {
	topic        string
	records      int64
	recordSize   int
	acks         string
	batchSize    int
	linger       time.Duration
	compression  string
	throughput   float64
	partitions   int
	interval     time.Duration
	baseline     bool
	dataDir      string
	diskDuration time.Duration
}

func benchProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var conn connFlags
	var c produceBenchCfg
	fs := newFlagSet("bench produce", "sluice bench produce [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.StringVar(&c.topic, "topic", "sluice-bench", "topic to produce to (created if missing)")
	fs.Int64Var(&c.records, "records", 1_000_000, "number of records to produce")
	fs.IntVar(&c.recordSize, "record-size", 100, "value size in bytes (random uppercase letters, the same for every record, as Kafka's tool)")
	fs.StringVar(&c.acks, "acks", "all", "acks: all, 1 or 0")
	fs.IntVar(&c.batchSize, "batch-size", 1_000_000, "maximum batch size in bytes (franz-go's default; Kafka's batch.size default is 16384)")
	fs.DurationVar(&c.linger, "linger", 5*time.Millisecond, "linger.ms (Kafka 4's default is 5ms)")
	fs.StringVar(&c.compression, "compression", "none", "compression.type: none, gzip, snappy, lz4 or zstd")
	fs.Float64Var(&c.throughput, "throughput", -1, "records per second to aim for (-1: unlimited)")
	fs.IntVar(&c.partitions, "partitions", 1, "partitions of the topic when it has to be created")
	fs.DurationVar(&c.interval, "reporting-interval", 5*time.Second, "how often to print a progress line on stderr")
	fs.BoolVar(&c.baseline, "baseline", false, "afterwards, measure write+fsync bandwidth of --data-dir with the producer's batch size")
	fs.StringVar(&c.dataDir, "data-dir", "./sluice-data", "the broker's data directory (a local path), for --baseline")
	fs.DurationVar(&c.diskDuration, "disk-duration", 10*time.Second, "time limit of the --baseline disk measurement")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("cli: bench produce: unexpected argument %q (the topic is --topic)", pos[0])
	}
	switch {
	case c.records <= 0:
		return errors.New("cli: bench produce: --records must be positive")
	case c.recordSize < 0 || c.recordSize > 64*mib:
		return errors.New("cli: bench produce: --record-size must be 0..64MiB")
	case c.batchSize <= 0 || c.batchSize > 1<<30:
		return errors.New("cli: bench produce: --batch-size must be positive")
	case c.partitions <= 0 || c.partitions > 1<<20:
		return errors.New("cli: bench produce: --partitions must be positive")
	case c.interval <= 0:
		return errors.New("cli: bench produce: --reporting-interval must be positive")
	case c.throughput == 0:
		return errors.New("cli: bench produce: --throughput must be positive or -1")
	}
	if c.baseline {
		if err := checkDir(c.dataDir); err != nil {
			return err
		}
	}
	opts, err := parseAcks(c.acks)
	if err != nil {
		return err
	}
	comp, err := parseCompression(c.compression)
	if err != nil {
		return err
	}
	if err := ensureTopic(ctx, &conn, c.topic, int32(c.partitions), stderr); err != nil {
		return err
	}

	window := int(min(max(int64(windowBudget/max(c.recordSize, 1)), 1024), 1<<18, c.records))
	meter := &batchMeter{}
	opts = append(opts, comp,
		kgo.DefaultProduceTopic(c.topic),
		kgo.ProducerLinger(c.linger),
		kgo.ProducerBatchMaxBytes(int32(c.batchSize)),
		kgo.MaxBufferedRecords(window),
		kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.WithHooks(meter),
	)
	conn.timeout = 0 // produce retries are bounded by the delivery timeout
	cl, err := conn.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	payload := make([]byte, c.recordSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte('A' + rng.IntN(26))
	}

	var (
		hist     latencyHist
		win      benchWindow
		failed   atomic.Int64
		firstErr atomic.Pointer[error]
		recs     = make([]kgo.Record, window)
		ctxs     = make([]slotCtx, window)
		starts   = make([]int64, window) // ns since start
		free     = make(chan int32, window)
	)
	for i := range ctxs {
		ctxs[i] = slotCtx{Context: ctx, idx: int32(i)}
		free <- int32(i)
	}
	start := time.Now()
	promise := func(r *kgo.Record, err error) {
		idx := r.Context.(*slotCtx).idx
		lat := time.Duration(int64(time.Since(start)) - starts[idx])
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
		} else {
			hist.record(lat)
			win.n.Add(1)
			win.bytes.Add(int64(len(r.Value)))
			win.sumNs.Add(int64(lat))
			atomicMax(&win.maxNs, int64(lat))
		}
		free <- idx
	}

	stopReport := startBenchReporter(stderr, c.interval, func(el time.Duration) string {
		n, b := win.n.Swap(0), win.bytes.Swap(0)
		sum, mx := win.sumNs.Swap(0), win.maxNs.Swap(0)
		avg := 0.0
		if n > 0 {
			avg = float64(sum) / float64(n) / 1e6
		}
		return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
			n, rate(n, el), rate(b, el)/mib, avg, float64(mx)/1e6)
	})

	var sent int64
	for ; sent < c.records; sent++ {
		if c.throughput > 0 {
			throttle(ctx, start, sent, c.throughput)
		}
		var idx int32
		select {
		case idx = <-free:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		r := &recs[idx]
		*r = kgo.Record{Value: payload, Context: &ctxs[idx]}
		starts[idx] = int64(time.Since(start))
		cl.Produce(ctx, r, promise)
	}
	flushErr := cl.Flush(ctx)
	elapsed := time.Since(start)
	stopReport()

	n := hist.n.Load()
	bytes := n * int64(c.recordSize)
	mbps := rate(bytes, elapsed) / mib
	fmt.Fprintf(stderr, "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.\n",
		n, rate(n, elapsed), mbps, hist.avgMs(), hist.maxMs(), hist.quantileMs(0.5), hist.quantileMs(0.95), hist.quantileMs(0.99), hist.quantileMs(0.999))
	line := fmt.Sprintf("bench=produce topic=%s records=%d failed=%d bytes=%d elapsed_s=%.3f records_per_sec=%.1f mb_per_sec=%.2f "+
		"avg_ms=%.3f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f "+
		"record_size=%d batch_size=%d linger_ms=%g acks=%s compression=%s partitions=%d",
		c.topic, n, failed.Load(), bytes, elapsed.Seconds(), rate(n, elapsed), mbps,
		hist.avgMs(), hist.quantileMs(0.5), hist.quantileMs(0.95), hist.quantileMs(0.99), hist.quantileMs(0.999), hist.maxMs(),
		c.recordSize, c.batchSize, float64(c.linger)/1e6, strings.ToLower(c.acks), strings.ToLower(c.compression), c.partitions)

	if c.baseline && ctx.Err() == nil {
		ws := c.batchSize
		if b := meter.batches.Load(); b > 0 {
			ws = int(meter.bytes.Load() / b)
		}
		fmt.Fprintf(stderr, "Measuring write+fsync bandwidth of %s with %d-byte writes...\n", c.dataDir, ws)
		// At least 64 MiB (or --disk-duration) so that a short produce run
		// still gets a steady-state disk figure.
		d, err := benchDisk(ctx, c.dataDir, ws, max(bytes, 64*mib), c.diskDuration)
		if err != nil {
			return err
		}
		ratio := 0.0
		if d.mbPerSec > 0 {
			ratio = mbps / d.mbPerSec
		}
		line += fmt.Sprintf(" disk_write_size=%d disk_mb_per_sec=%.2f disk_syncs_per_sec=%.1f produce_vs_disk=%.3f",
			ws, d.mbPerSec, d.syncsPerSec, ratio)
	}
	fmt.Fprintln(stdout, line)

	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("cli: bench produce: interrupted after %d records", sent)
	case failed.Load() > 0:
		return fmt.Errorf("cli: bench produce: %d records failed; first error: %w", failed.Load(), *firstErr.Load())
	case flushErr != nil:
		return fmt.Errorf("cli: bench produce: %w", flushErr)
	}
	return nil
}

// throttle sleeps while the run is ahead of the target rate, in the manner
// of Kafka's ThroughputThrottler; sleeps shorter than a millisecond are
// skipped since the OS cannot honour them.
func throttle(ctx context.Context, start time.Time, sent int64, perSec float64) {
	due := time.Duration(float64(sent) / perSec * float64(time.Second))
	if ahead := due - time.Since(start); ahead >= time.Millisecond {
		t := time.NewTimer(ahead)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// startBenchReporter prints line(interval) to w every interval until the
// returned stop function is called.
func startBenchReporter(w io.Writer, every time.Duration, line func(time.Duration) string) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				fmt.Fprintln(w, line(now.Sub(last)))
				last = now
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// ensureTopic creates topic with partitions unless it exists.
func ensureTopic(ctx context.Context, conn *connFlags, topic string, partitions int32, stderr io.Writer) error {
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("cli: bench: %w", err)
	}
	if d, ok := details[topic]; ok && d.Err == nil {
		if int32(len(d.Partitions)) != partitions {
			fmt.Fprintf(stderr, "Using existing topic %s with %d partitions.\n", topic, len(d.Partitions))
		}
		return nil
	}
	r, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("cli: bench: create topic %s: %w", topic, kafkaErr(err, r.ErrMessage))
	}
	return nil
}

func benchConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn     connFlags
		topic    string
		records  int64
		idle     time.Duration
		interval time.Duration
	)
	fs := newFlagSet("bench consume", "sluice bench consume [flags]", stderr)
	conn.register(fs)
	fs.StringVar(&topic, "topic", "sluice-bench", "topic to read from the beginning")
	fs.Int64Var(&records, "records", -1, "records to read (-1: all records in the topic when the run starts)")
	fs.DurationVar(&idle, "timeout", 10*time.Second, "give up when no record arrives for this long")
	fs.DurationVar(&interval, "reporting-interval", 5*time.Second, "how often to print a progress line on stderr")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("cli: bench consume: unexpected argument %q (the topic is --topic)", pos[0])
	}
	if records == 0 || records < -1 || idle <= 0 || interval <= 0 {
		return errors.New("cli: bench consume: --records must be positive or -1; --timeout and --reporting-interval positive")
	}
	if records < 0 {
		n, err := topicRecordCount(ctx, &conn, topic)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("cli: bench consume: topic %s is empty; run bench produce first", topic)
		}
		records = n
	} else if err := checkTopic(ctx, &conn, topic, -1); err != nil {
		return err
	}

	meter := &fetchMeter{}
	cl, err := conn.newClient(kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(meter))
	if err != nil {
		return err
	}
	defer cl.Close()

	var n, bytes, lastN, lastBytes int64
	start := time.Now()
	lastReport := start
	timedOut := false
	for n < records && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, idle)
		fetches := cl.PollFetches(pctx)
		cancel()
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.DeadlineExceeded) && ctx.Err() == nil {
				timedOut = true
			} else if ctx.Err() == nil {
				fmt.Fprintf(stderr, "cli: bench consume %s[%d]: %v\n", fe.Topic, fe.Partition, fe.Err)
			}
		}
		if timedOut {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if n < records {
				n++
				bytes += int64(len(r.Key) + len(r.Value))
			}
		})
		if now := time.Now(); now.Sub(lastReport) >= interval {
			el := now.Sub(lastReport)
			fmt.Fprintf(stderr, "%d records read, %.1f records/sec (%.2f MB/sec).\n", n-lastN, rate(n-lastN, el), rate(bytes-lastBytes, el)/mib)
			lastN, lastBytes, lastReport = n, bytes, now
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "%d records read, %.1f records/sec (%.2f MB/sec), %d fetches.\n", n, rate(n, elapsed), rate(bytes, elapsed)/mib, meter.fetches.Load())
	fmt.Fprintf(stdout, "bench=consume topic=%s records=%d bytes=%d elapsed_s=%.3f records_per_sec=%.1f mb_per_sec=%.2f fetches=%d\n",
		topic, n, bytes, elapsed.Seconds(), rate(n, elapsed), rate(bytes, elapsed)/mib, meter.fetches.Load())
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("cli: bench consume: interrupted after %d of %d records", n, records)
	case timedOut:
		return fmt.Errorf("cli: bench consume: no record for %s; read %d of %d records", idle, n, records)
	}
	return nil
}

// fetchMeter counts fetch responses, which says how well records batch on
// the read path.
type fetchMeter struct{ fetches atomic.Int64 }

func (m *fetchMeter) OnFetchBatchRead(kgo.BrokerMetadata, string, int32, kgo.FetchBatchMetrics) {
	m.fetches.Add(1)
}

// topicRecordCount is the number of offsets between the start and end of
// every partition of topic.
func topicRecordCount(ctx context.Context, conn *connFlags, topic string) (int64, error) {
	if err := checkTopic(ctx, conn, topic, -1); err != nil {
		return 0, err
	}
	c := *conn
	c.timeout = adminTimeout
	adm, cl, err := c.newAdmin()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("cli: bench consume: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("cli: bench consume: %w", err)
	}
	var total int64
	var firstErr error
	ends.Each(func(e kadm.ListedOffset) {
		s, ok := starts.Lookup(e.Topic, e.Partition)
		switch {
		case e.Err != nil:
			firstErr = cmpErr(firstErr, e.Err)
		case !ok || s.Err != nil:
			firstErr = cmpErr(firstErr, s.Err)
		default:
			total += e.Offset - s.Offset
		}
	})
	if firstErr != nil {
		return 0, fmt.Errorf("cli: bench consume: list offsets: %w", firstErr)
	}
	return total, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	if err == nil {
		return kerr.UnknownTopicOrPartition
	}
	return err
}

func benchDiskCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		dir       string
		writeSize int
		total     int64
		limit     time.Duration
	)
	fs := newFlagSet("bench disk", "sluice bench disk [flags]", stderr)
	fs.StringVar(&dir, "data-dir", "./sluice-data", "directory on the filesystem to measure (the broker's data directory)")
	fs.IntVar(&writeSize, "write-size", 1_000_000, "bytes per write; each write is followed by fsync")
	fs.Int64Var(&total, "bytes", 256*mib, "stop after writing this many bytes")
	fs.DurationVar(&limit, "duration", 10*time.Second, "stop after this long")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("cli: bench disk: unexpected argument %q", pos[0])
	}
	if writeSize <= 0 || writeSize > 1<<30 || total <= 0 || limit <= 0 {
		return errors.New("cli: bench disk: --write-size, --bytes and --duration must be positive")
	}
	if err := checkDir(dir); err != nil {
		return err
	}
	r, err := benchDisk(ctx, dir, writeSize, total, limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d writes of %d bytes with fsync: %.2f MB/sec, %.1f fsyncs/sec, fsync p50 %.2f ms, p99 %.2f ms, max %.2f ms.\n",
		r.writes, writeSize, r.mbPerSec, r.syncsPerSec, r.hist.quantileMs(0.5), r.hist.quantileMs(0.99), r.hist.maxMs())
	fmt.Fprintf(stdout, "bench=disk dir=%s write_size=%d writes=%d bytes=%d elapsed_s=%.3f mb_per_sec=%.2f syncs_per_sec=%.1f sync_p50_ms=%.3f sync_p99_ms=%.3f sync_max_ms=%.3f\n",
		dir, writeSize, r.writes, r.bytes, r.elapsed.Seconds(), r.mbPerSec, r.syncsPerSec, r.hist.quantileMs(0.5), r.hist.quantileMs(0.99), r.hist.maxMs())
	if ctx.Err() != nil {
		return errors.New("cli: bench disk: interrupted")
	}
	return nil
}

func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cli: bench: data directory: %w (pass --data-dir)", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("cli: bench: data directory %s is not a directory", dir)
	}
	return nil
}

type diskResult struct {
	writes, bytes         int64
	elapsed               time.Duration
	mbPerSec, syncsPerSec float64
	hist                  *latencyHist // fsync latencies
}

// benchDisk appends writeSize-byte writes to a temporary file in dir, each
// followed by fsync (what a log append under acks=all costs at worst, one
// fsync per batch), until total bytes or limit, then removes the file. The
// bytes are random so that compressing or deduplicating filesystems cannot
// flatter the figure.
func benchDisk(ctx context.Context, dir string, writeSize int, total int64, limit time.Duration) (diskResult, error) {
	f, err := os.CreateTemp(dir, ".sluice-bench-disk-*")
	if err != nil {
		return diskResult{}, fmt.Errorf("cli: bench disk: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, writeSize)
	var seed [32]byte
	rand.NewChaCha8(seed).Read(buf)

	res := diskResult{hist: &latencyHist{}}
	start := time.Now()
	for res.bytes < total && time.Since(start) < limit && ctx.Err() == nil {
		if _, err := f.Write(buf); err != nil {
			return res, fmt.Errorf("cli: bench disk: write: %w", err)
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			return res, fmt.Errorf("cli: bench disk: fsync: %w", err)
		}
		res.hist.record(time.Since(t))
		res.writes++
		res.bytes += int64(writeSize)
	}
	res.elapsed = time.Since(start)
	res.mbPerSec = rate(res.bytes, res.elapsed) / mib
	res.syncsPerSec = rate(res.writes, res.elapsed)
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("cli: bench disk: %w", err)
	}
	return res, nil
}
