package sluice

// producer.go: the Producer shared by both destinations (Kafka in
// producer_kafka.go, SQS in producer_sqs.go): the bounded local buffer, the
// confirmed and fire-and-forget paths, failure reporting, Flush and Close.
//
// Concurrency. A Producer owns these goroutines, all ended by Close:
//   - the reporter (reporter.run): calls OnError for failed fire-and-forget
//     messages, one at a time, so that a slow OnError never blocks the
//     destination's delivery path (franz-go forbids blocking in promises);
//   - the throttle poller (throttle.go), when Throttle is set;
//   - the destination's own (the SQS batcher and its senders; franz-go's).
// Locks: Producer.mu (closed flag, held shared while handing messages to the
// destination so that Close cannot interleave) is taken before budget.mu and
// before the destination's locks, never after.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	// ErrMessageTooLarge: a message larger than the whole BufferMemory can
	// never be buffered; it is refused at once.
	ErrMessageTooLarge = errors.New("sluice: message larger than the producer's BufferMemory")
	// ErrInvalidMessage: the destination cannot take the message as it is
	// (e.g. an empty or non-UTF-8 body for SQS); refused at once.
	ErrInvalidMessage = errors.New("sluice: invalid message")
	// ErrInvalidConfig is wrapped by every configuration error.
	ErrInvalidConfig = errors.New("sluice: invalid configuration")
)

// Defaults shared by both producers (Kafka's values where Kafka has the setting).
const (
	DefaultBufferMemory    = 32 << 20         // buffer.memory
	DefaultMaxBlock        = 60 * time.Second // max.block.ms
	DefaultDeliveryTimeout = 2 * time.Minute  // delivery.timeout.ms
	DefaultLinger          = 5 * time.Millisecond
	// messageOverhead is added to every message's size in the buffer
	// budget, so that empty messages are not free.
	messageOverhead = 64
)

// configError names the refused field.
func configError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// PublishError is returned by PublishSync when some of its messages were not
// delivered. Errors[i] is the failure of the i-th message, nil if delivered.
// errors.Is sees through it to each failure (ErrThrottled, ErrBufferFull …).
type PublishError struct {
	Errors []error
}

func (e *PublishError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errors {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("sluice: %d of %d messages not published; first: %v", n, len(e.Errors), first)
}

// Unwrap returns the non-nil failures.
func (e *PublishError) Unwrap() []error {
	var out []error
	for _, err := range e.Errors {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// ProducerStats is a snapshot of a producer's counters.
type ProducerStats struct {
	Published        int64   // messages the destination acknowledged
	Failed           int64   // messages that failed (reported to OnError or returned by PublishSync)
	BufferedMessages int64   // accepted, not yet resolved
	BufferedBytes    int64   // their size in the BufferMemory budget
	Pressure         float64 // as Pressure()
}

// Producer publishes messages to one Kafka topic or one SQS queue.
// Make one with NewKafkaProducer or NewSQSProducer; it is safe for
// concurrent use.
type Producer struct {
	dest     destination
	name     string // topic or queue name, for logs and metrics
	onError  func(Message, error)
	logger   *slog.Logger
	maxBlock time.Duration
	budget   *budget
	throttle *throttle // nil without ThrottleConfig
	metrics  *producerMetrics
	reporter *reporter

	mu     sync.RWMutex // closed; held shared while handing messages to dest
	closed bool

	published, failed atomic.Int64
	outMu             sync.Mutex
	outstanding       int64
	idle              chan struct{} // closed when outstanding drops to 0

	closeOnce sync.Once
	closeErr  error
}

// destination is what a producer publishes to.
type destination interface {
	// validate checks a message before it is accepted.
	validate(m *Message) error
	// submit hands accepted messages over; each one's completion is later
	// reported through Producer.complete exactly once, even on close.
	// urgent asks for sending without waiting for Linger (PublishSync).
	// It must not block.
	submit(ps []*pending, urgent bool)
	// flush sends what lingers now and returns once it was handed to the
	// network (completion is tracked by the Producer).
	flush(ctx context.Context) error
	// depth is the backlog the throttle compares with MaxDepth.
	depth(ctx context.Context) (int64, error)
	// close stops the destination's goroutines; messages not yet resolved
	// complete with an error wrapping ErrClosed.
	close()
}

// pending is one accepted message until it resolves.
type pending struct {
	msg  Message
	size int64
	at   time.Time  // accepted
	sync *syncGroup // nil for fire-and-forget
	idx  int        // position in sync
	p    *Producer
}

// syncGroup collects the outcomes of one PublishSync call.
type syncGroup struct {
	errs []error
	wg   sync.WaitGroup
}

// producerCommon are the settings both producers share, checked and defaulted.
type producerCommon struct {
	bufferMemory int64
	maxBlock     time.Duration
	onError      func(Message, error)
	throttle     *ThrottleConfig
	logger       *slog.Logger
	registerer   prometheus.Registerer
}

func (c *producerCommon) defaults() error {
	switch {
	case c.bufferMemory == 0:
		c.bufferMemory = DefaultBufferMemory
	case c.bufferMemory < 0:
		return configError("BufferMemory", "must not be negative, got %d", c.bufferMemory)
	}
	if c.maxBlock == 0 {
		c.maxBlock = DefaultMaxBlock
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.throttle != nil {
		t := *c.throttle
		if err := t.defaults(); err != nil {
			return err
		}
		c.throttle = &t
	}
	return nil
}

// newProducer wires the shared parts around dest and starts the reporter and
// the throttle poller (whose first poll runs before this returns, so that a
// destination already over its limit is refused from the first message).
func newProducer(dest destination, name, kind string, c producerCommon) (*Producer, error) {
	p := &Producer{
		dest:     dest,
		name:     name,
		onError:  c.onError,
		logger:   c.logger.With("producer", kind, "destination", name),
		maxBlock: c.maxBlock,
		budget:   newBudget(c.bufferMemory),
	}
	m, err := newProducerMetrics(c.registerer, name)
	if err != nil {
		return nil, err
	}
	p.metrics = m
	p.reporter = newReporter(p)
	if c.throttle != nil {
		p.throttle = startThrottle(*c.throttle, dest.depth, p.logger, m)
	}
	return p, nil
}

// Publish accepts m into the local buffer and returns; the outcome of a
// message accepted here is reported only if it fails, through OnError (or,
// without OnError, logged and counted — never dropped silently). When the
// buffer is full Publish blocks up to MaxBlock (or until ctx ends), then fails
// with ErrBufferFull. Under depth throttling it is slowed past 80% of
// MaxDepth and refused with ErrThrottled at 100%.
func (p *Producer) Publish(ctx context.Context, m Message) error {
	if err := p.throttle.admit(ctx, true); err != nil {
		return err
	}
	pd, err := p.accept(ctx, &m, true)
	if err != nil {
		return err
	}
	return p.hand([]*pending{pd}, false)
}

// TryPublish is Publish without waiting: it returns ErrBufferFull at once when
// the buffer is full, and ErrThrottled at once when the destination is at its
// depth limit. It does not apply the slow-down delay between 80% and 100%.
func (p *Producer) TryPublish(m Message) error {
	if err := p.throttle.admit(context.Background(), false); err != nil {
		return err
	}
	pd, err := p.accept(context.Background(), &m, false)
	if err != nil {
		return err
	}
	return p.hand([]*pending{pd}, false)
}

// PublishSync publishes msgs and returns once the destination acknowledged
// every one of them (Kafka: per Acks; SQS: the SendMessageBatch answer).
// With one message the error is that message's; with several, a
// *PublishError says which ones failed (errors.Is sees each failure). It
// waits for buffer space like Publish, and is throttled like Publish (one
// delay per call). It does not wait for Linger on SQS; on Kafka franz-go's
// linger applies as for any record.
func (p *Producer) PublishSync(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := p.throttle.admit(ctx, true); err != nil {
		return err
	}
	g := &syncGroup{errs: make([]error, len(msgs))}
	var chunk []*pending
	for i := range msgs {
		pd, err := p.accept(ctx, &msgs[i], false)
		if errors.Is(err, ErrBufferFull) {
			// Hand over what we hold before waiting for space: the space
			// we wait for may be our own messages' once delivered.
			if len(chunk) > 0 {
				p.hand(chunk, true) // on close it records ErrClosed in g
				chunk = nil
			}
			pd, err = p.accept(ctx, &msgs[i], true)
		}
		if err != nil {
			g.errs[i] = err
			continue
		}
		pd.sync, pd.idx = g, i
		g.wg.Add(1)
		chunk = append(chunk, pd)
	}
	if len(chunk) > 0 {
		p.hand(chunk, true)
	}
	g.wg.Wait()
	failed := false
	for _, err := range g.errs {
		if err != nil {
			failed = true
			break
		}
	}
	if failed {
		if len(msgs) == 1 {
			return g.errs[0]
		}
		return &PublishError{Errors: g.errs}
	}
	return nil
}

// accept validates m and reserves its buffer space: at once (wait false) or
// waiting up to MaxBlock / ctx.
func (p *Producer) accept(ctx context.Context, m *Message, wait bool) (*pending, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	if err := p.dest.validate(m); err != nil {
		return nil, err
	}
	size := messageSize(m)
	if size > p.budget.max {
		return nil, fmt.Errorf("%w: %d bytes, BufferMemory %d", ErrMessageTooLarge, size, p.budget.max)
	}
	var err error
	if wait && p.maxBlock > 0 {
		err = p.budget.acquire(ctx, size, p.maxBlock)
	} else {
		err = p.budget.tryAcquire(size)
	}
	if err != nil {
		return nil, err
	}
	return &pending{msg: *m, size: size, at: time.Now(), p: p}, nil
}

// hand passes accepted messages to the destination, unless the producer
// closed meanwhile (then their space is returned and ErrClosed reported).
func (p *Producer) hand(ps []*pending, urgent bool) error {
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		for _, pd := range ps {
			p.budget.release(pd.size)
			if pd.sync != nil {
				pd.sync.errs[pd.idx] = ErrClosed
				pd.sync.wg.Done()
			}
		}
		return ErrClosed
	}
	var n, bytes int64
	for _, pd := range ps {
		n++
		bytes += pd.size
	}
	p.outMu.Lock()
	if p.outstanding == 0 {
		p.idle = make(chan struct{})
	}
	p.outstanding += n
	p.outMu.Unlock()
	p.metrics.buffered.Add(float64(bytes))
	p.dest.submit(ps, urgent)
	p.mu.RUnlock()
	return nil
}

// complete is called by the destination exactly once per pending message.
func (p *Producer) complete(pd *pending, err error) {
	if err == nil {
		p.published.Add(1)
		p.metrics.published.Inc()
		if pd.sync != nil {
			pd.sync.wg.Done()
		}
		p.done(pd)
		return
	}
	p.failed.Add(1)
	p.metrics.failed.Inc()
	if pd.sync != nil {
		pd.sync.errs[pd.idx] = err
		pd.sync.wg.Done()
		p.done(pd)
		return
	}
	// Fire-and-forget: the message stays counted (buffered, outstanding)
	// until OnError has seen it, so that Flush covers the report too.
	p.reporter.add(pd, err)
}

// done releases a resolved message's space and outstanding count.
func (p *Producer) done(pd *pending) {
	p.budget.release(pd.size)
	p.metrics.buffered.Sub(float64(pd.size))
	p.outMu.Lock()
	p.outstanding--
	if p.outstanding == 0 {
		close(p.idle)
	}
	p.outMu.Unlock()
}

// Flush sends whatever lingers and waits until every message accepted so
// far has resolved (acknowledged, or failed and reported), or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.dest.flush(ctx); err != nil {
		return err
	}
	p.outMu.Lock()
	if p.outstanding == 0 {
		p.outMu.Unlock()
		return nil
	}
	idle := p.idle
	p.outMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sluice: flush: %w", ctx.Err())
	}
}

// Pressure is the destination's last polled depth (SQS) or lag (Kafka)
// divided by ThrottleConfig.MaxDepth: 0.8 is where slowing starts, 1 where
// publishing is refused. 0 without Throttle.
func (p *Producer) Pressure() float64 { return p.throttle.pressure() }

// Stats returns the producer's counters.
func (p *Producer) Stats() ProducerStats {
	p.outMu.Lock()
	out := p.outstanding
	p.outMu.Unlock()
	return ProducerStats{
		Published:        p.published.Load(),
		Failed:           p.failed.Load(),
		BufferedMessages: out,
		BufferedBytes:    p.budget.inUse(),
		Pressure:         p.Pressure(),
	}
}

func (p *Producer) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// Close refuses new messages (ErrClosed), flushes until ctx ends, then stops
// every goroutine. Messages still unresolved when ctx ends fail with
// ErrClosed and are reported like any failure. It returns the flush error,
// if any; later calls return the same.
func (p *Producer) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.budget.close() // wake Publish calls waiting for space
		p.closeErr = p.Flush(ctx)
		p.throttle.stop()
		p.dest.close()
		p.reporter.stop() // after dest: it delivers the failures dest.close produced
	})
	return p.closeErr
}

// messageSize is a message's weight in the buffer budget.
func messageSize(m *Message) int64 {
	n := len(m.Body) + len(m.Key) + len(m.DeduplicationID) + messageOverhead
	for k, v := range m.Attributes {
		n += len(k) + len(v)
	}
	return int64(n)
}

// budget is the BufferMemory byte semaphore.
type budget struct {
	max     int64
	mu      sync.Mutex
	used    int64
	freed   chan struct{} // closed and replaced by a release when waiting is set: wakes waiters
	waiting bool          // someone waits on freed (so that releases without waiters do not allocate)
	closed  chan struct{}
}

func newBudget(max int64) *budget {
	return &budget{max: max, freed: make(chan struct{}), closed: make(chan struct{})}
}

func (b *budget) tryAcquire(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return ErrBufferFull
	}
	b.used += n
	return nil
}

// acquire waits up to maxBlock for n bytes.
func (b *budget) acquire(ctx context.Context, n int64, maxBlock time.Duration) error {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return nil
		}
		freed := b.freed
		b.waiting = true
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(maxBlock)
		}
		select {
		case <-freed:
		case <-timer.C:
			return fmt.Errorf("%w (waited max block %v)", ErrBufferFull, maxBlock)
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-b.closed:
			timer.Stop()
			return ErrClosed
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.waiting {
		close(b.freed)
		b.freed = make(chan struct{})
		b.waiting = false
	}
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *budget) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
}

// reporter calls OnError for failed fire-and-forget messages on its own
// goroutine. Its queue is bounded by BufferMemory: a failed message keeps its
// buffer space until reported.
type reporter struct {
	p    *Producer
	mu   sync.Mutex
	q    []report
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

type report struct {
	pd  *pending
	err error
}

func newReporter(p *Producer) *reporter {
	r := &reporter{p: p, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *reporter) add(pd *pending, err error) {
	r.mu.Lock()
	r.q = append(r.q, report{pd, err})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *reporter) run() {
	defer close(r.done)
	for {
		r.mu.Lock()
		q := r.q
		r.q = nil
		r.mu.Unlock()
		for _, rep := range q {
			r.deliver(rep)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-r.wake:
		case <-r.quit:
			r.mu.Lock()
			empty := len(r.q) == 0
			r.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

func (r *reporter) deliver(rep report) {
	defer r.p.done(rep.pd)
	if r.p.onError == nil {
		r.p.logger.Error("sluice: message not published", "err", rep.err, "bytes", len(rep.pd.msg.Body))
		return
	}
	r.p.onError(rep.pd.msg, rep.err)
}

// stop returns after every queued report was delivered.
func (r *reporter) stop() {
	close(r.quit)
	<-r.done
}

// producerMetrics are the Prometheus series of producers, labelled by
// destination. With a nil Registerer they are kept unregistered.
type producerMetrics struct {
	published, failed prometheus.Counter
	buffered          prometheus.Gauge
	pressure          prometheus.Gauge
}

func newProducerMetrics(reg prometheus.Registerer, dest string) (*producerMetrics, error) {
	published := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_producer_published_total", Help: "Messages the destination acknowledged.",
	}, []string{"destination"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_producer_failed_total", Help: "Messages that failed to publish (reported or returned).",
	}, []string{"destination"})
	buffered := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_producer_buffered_bytes", Help: "Bytes of accepted messages not yet resolved (BufferMemory budget in use).",
	}, []string{"destination"})
	pressure := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_producer_pressure", Help: "Destination depth or lag divided by the throttle's MaxDepth.",
	}, []string{"destination"})
	if reg != nil {
		// Several producers may share a registerer: the second one reuses
		// the vectors the first registered.
		var err error
		if published, err = register(reg, published); err != nil {
			return nil, err
		}
		if failed, err = register(reg, failed); err != nil {
			return nil, err
		}
		if buffered, err = register(reg, buffered); err != nil {
			return nil, err
		}
		if pressure, err = register(reg, pressure); err != nil {
			return nil, err
		}
	}
	return &producerMetrics{
		published: published.WithLabelValues(dest),
		failed:    failed.WithLabelValues(dest),
		buffered:  buffered.WithLabelValues(dest),
		pressure:  pressure.WithLabelValues(dest),
	}, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("sluice: register producer metrics: %w", err)
	}
	return c, nil
}

// lastSegment is the name at the end of a URL or path.
func lastSegment(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}
