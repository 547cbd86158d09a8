package sluice

// The Kafka source: a Source that reads topics through a Kafka consumer group
// with franz-go (kgo), for a Worker.
//
// Offsets. Records of one partition may run concurrently in the worker, so
// they finish out of order. The source tracks, per partition, which fetched
// records are unfinished (source_kafka_tracker.go) and commits only up to the
// lowest unfinished one — a record is finished when it is Acked or
// DeadLettered, never when its handler merely failed — every CommitInterval,
// on revoke and on Close. Delivery is therefore at least once: after a crash
// or a lost partition, records past the last commit are read again.
//
// Rebalances. The client blocks rebalances while a poll's records are being
// registered with the trackers (kgo.BlockRebalanceOnPoll, allowed again right
// after registration), so a revoke never races the bookkeeping of a fetch.
// When partitions are revoked (cooperative-sticky by default: only the ones
// that move), the revoke callback waits up to RevokeTimeout for their
// in-flight records, commits the finished prefix, and forgets the rest: the
// new owner reads them again from the commit. Lost partitions (the member was
// fenced: session expired, unknown member) are forgotten without a commit,
// since the group no longer accepts this member's commits and a commit under
// a reset member could rewind the new owner's.
//
// Liveness. franz-go heartbeats from its own goroutine, independently of
// polling, so there is no max.poll.interval.ms: a handler may run for as long
// as it needs without the member being expelled, and Extend is a no-op. The
// only time a slow handler matters is a rebalance, which waits for it at most
// RevokeTimeout (kept below the rebalance timeout) before giving its
// partition up.
//
// Goroutines: the committer (one, started by NewKafkaSource, stopped by
// Close) and franz-go's own, which Close ends by closing the client.
// Lock order: commitMu before mu.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaSourceConfig configures NewKafkaSource.
type KafkaSourceConfig struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Topics to consume. Required.
	Topics []string
	// Group is the consumer group id. Required.
	Group string
	// Balancer assigns partitions among the group's members. Default
	// kgo.CooperativeStickyBalancer(): a rebalance moves only the partitions
	// that must move, and members keep consuming the others meanwhile.
	Balancer kgo.GroupBalancer
	// InstanceID makes the member static (group.instance.id): a restart
	// within SessionTimeout gets the same partitions back without a
	// rebalance, and Close does not leave the group. Default "" (dynamic).
	InstanceID string
	// DeadLetterTopic receives records given up on (DeadLetter), with their
	// key, value and headers plus the DiagnosticsAttribute header. The topic
	// must exist (or pass kgo.AllowAutoTopicCreation in ClientOptions).
	// Default "": DeadLetter fails with ErrNoDeadLetterTopic.
	DeadLetterTopic string
	// CommitInterval is how often finished offsets are committed. Default 1s.
	CommitInterval time.Duration
	// SessionTimeout is session.timeout.ms: how long the group waits for a
	// heartbeat before expelling the member. Default 45s (franz-go's). It
	// must lie within the broker's group.{min,max}.session.timeout.ms.
	SessionTimeout time.Duration
	// RevokeTimeout bounds how long a rebalance waits for in-flight records
	// of revoked partitions before giving them up (they are then read again
	// by the new owner). Default 10s. The client's rebalance timeout is set
	// to at least RevokeTimeout+30s so that the wait never gets the member
	// expelled.
	RevokeTimeout time.Duration
	// ClientOptions are extra franz-go options (TLS, SASL, fetch sizes,
	// kgo.ConsumeResetOffset …), applied after the source's own, so they
	// win. Do not pass options that change group semantics the source relies
	// on (auto-commit, rebalance blocking, partition callbacks).
	ClientOptions []kgo.Opt
	// Logger receives the source's reports (and franz-go's warnings and
	// errors). Default slog.Default().
	Logger *slog.Logger
}

// Defaults of KafkaSourceConfig.
const (
	DefaultKafkaCommitInterval = time.Second
	DefaultKafkaRevokeTimeout  = 10 * time.Second
	// defaultKafkaFetchMax is the Fetch limit when the caller asks for 0.
	defaultKafkaFetchMax = 500
)

var (
	// ErrNoDeadLetterTopic is returned by DeadLetter of a Kafka source
	// configured without a DeadLetterTopic.
	ErrNoDeadLetterTopic = errors.New("sluice: kafka source has no dead-letter topic")
	// ErrRetryInPlace is returned by Retry of a Kafka source: a partition
	// cannot hand one record back, so the worker retries in place
	// (InPlaceRetry reports true).
	ErrRetryInPlace = errors.New("sluice: kafka source cannot redeliver; retry in place")
	// ErrKafkaSourceConfig is wrapped by every KafkaSourceConfig error.
	ErrKafkaSourceConfig = errors.New("sluice: invalid kafka source config")
	// ErrForeignMessage is returned when a message not fetched from this
	// source is handed to it.
	ErrForeignMessage = errors.New("sluice: message was not fetched from this source")
)

// KafkaConfigError names the refused KafkaSourceConfig field.
type KafkaConfigError struct {
	Field, Reason string
}

func (e *KafkaConfigError) Error() string {
	return fmt.Sprintf("sluice: kafka source config: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrKafkaSourceConfig.
func (e *KafkaConfigError) Unwrap() error { return ErrKafkaSourceConfig }

func (c KafkaSourceConfig) withDefaults() KafkaSourceConfig {
	if c.Balancer == nil {
		c.Balancer = kgo.CooperativeStickyBalancer()
	}
	if c.CommitInterval == 0 {
		c.CommitInterval = DefaultKafkaCommitInterval
	}
	if c.RevokeTimeout == 0 {
		c.RevokeTimeout = DefaultKafkaRevokeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c KafkaSourceConfig) validate() error {
	switch {
	case len(c.Brokers) == 0:
		return &KafkaConfigError{"Brokers", "at least one seed broker is required"}
	case len(c.Topics) == 0:
		return &KafkaConfigError{"Topics", "at least one topic is required"}
	case c.Group == "":
		return &KafkaConfigError{"Group", "a consumer group id is required"}
	case c.CommitInterval < 0:
		return &KafkaConfigError{"CommitInterval", "must not be negative"}
	case c.SessionTimeout < 0:
		return &KafkaConfigError{"SessionTimeout", "must not be negative"}
	case c.RevokeTimeout < 0:
		return &KafkaConfigError{"RevokeTimeout", "must not be negative"}
	}
	for i, t := range c.Topics {
		if t == "" {
			return &KafkaConfigError{"Topics", "topic " + strconv.Itoa(i) + " is empty"}
		}
	}
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// kafkaHandle is Message.handle for messages of a Kafka source.
type kafkaHandle struct {
	src     *kafkaSource
	tracker *partitionTracker
	rec     *kgo.Record
}

type kafkaSource struct {
	cfg    KafkaSourceConfig
	cl     *kgo.Client
	logger *slog.Logger

	commitMu sync.Mutex // serialises commits (periodic, revoke, Close); taken before mu

	mu       sync.Mutex // guards the fields below and every tracker
	trackers map[topicPartition]*partitionTracker
	paused   bool
	resumed  chan struct{} // closed by Resume; replaced by Pause
	closing  bool          // Close began: revokes do not wait for in-flight records
	closed   bool
	stats    kafkaSourceStats

	stop          chan struct{} // closed by Close: stops the committer
	committerDone chan struct{}
	closeOnce     sync.Once
	closeErr      error
}

// kafkaSourceStats are counters for tests and logs.
type kafkaSourceStats struct {
	revoked int64 // partitions revoked from this member
	lost    int64 // partitions lost (member fenced)
	dropped int64 // records in flight when their partition left: read again by the next owner
	commits int64 // successful commit requests
}

// NewKafkaSource returns a Source reading cfg.Topics through consumer group
// cfg.Group. The member joins the group in the background at once (not at
// the first Fetch) and may be assigned partitions from then on: create the
// source when its worker is about to run.
func NewKafkaSource(cfg KafkaSourceConfig) (Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &kafkaSource{
		cfg:           cfg,
		logger:        cfg.Logger.With("source", "kafka", "group", cfg.Group),
		trackers:      make(map[topicPartition]*partitionTracker),
		resumed:       make(chan struct{}),
		stop:          make(chan struct{}),
		committerDone: make(chan struct{}),
	}
	close(s.resumed) // not paused
	rebalanceTimeout := max(60*time.Second, cfg.RevokeTimeout+30*time.Second)
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.Balancers(cfg.Balancer),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.RebalanceTimeout(rebalanceTimeout),
		// Kafka's fetch.max.wait.ms default; franz-go's 5s would delay
		// Resume (a resumed topic joins the next fetch) and Close.
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.RequiredAcks(kgo.AllISRAcks()), // dead letters are produced with acks=all
		kgo.WithLogger(kgoLogger{s.logger}),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	if cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout))
	}
	opts = append(opts, cfg.ClientOptions...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("sluice: kafka source: %w", err)
	}
	s.cl = cl
	go s.committer()
	return s, nil
}

// Fetch polls up to max records (default 500 when max <= 0) and registers
// them as in flight. It blocks while the source is paused.
func (s *kafkaSource) Fetch(ctx context.Context, max int) ([]*Message, error) {
	if max <= 0 {
		max = defaultKafkaFetchMax
	}
	for {
		s.mu.Lock()
		closed, resumed := s.closed || s.closing, s.resumed
		s.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-resumed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.stop:
			return nil, ErrClosed
		}
		fetches := s.cl.PollRecords(ctx, max)
		msgs := s.register(fetches)
		// Rebalances were blocked from the moment the poll returned
		// records until they were registered; let them proceed.
		s.cl.AllowRebalance()
		if len(msgs) > 0 {
			return msgs, nil
		}
		if err := s.fetchErr(ctx, fetches); err != nil {
			return nil, err
		}
	}
}

// fetchErr turns a poll's errors into Fetch's result: nil to poll again.
// Partition errors are retried by franz-go itself; they are only logged.
func (s *kafkaSource) fetchErr(ctx context.Context, fetches kgo.Fetches) error {
	var out error
	fetches.EachError(func(topic string, partition int32, err error) {
		switch {
		case errors.Is(err, kgo.ErrClientClosed):
			out = ErrClosed
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			if ctx.Err() != nil {
				out = ctx.Err()
			}
		default:
			s.logger.Warn("sluice: kafka fetch error", "topic", topic, "partition", partition, "err", err)
		}
	})
	if out == nil && ctx.Err() != nil {
		out = ctx.Err()
	}
	return out
}

// register turns polled records into messages and marks them in flight.
func (s *kafkaSource) register(fetches kgo.Fetches) []*Message {
	n := fetches.NumRecords()
	if n == 0 {
		return nil
	}
	// One allocation each for the batch's messages and handles, rather
	// than two per record.
	msgs := make([]*Message, 0, n)
	backing := make([]Message, n)
	handles := make([]kafkaHandle, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	var last *partitionTracker // records come grouped by partition
	fetches.EachRecord(func(r *kgo.Record) {
		t := last
		if t == nil || t.topic != r.Topic || t.partition != r.Partition {
			key := topicPartition{r.Topic, r.Partition}
			t = s.trackers[key]
			if t == nil {
				t = newPartitionTracker(r.Topic, r.Partition)
				s.trackers[key] = t
			}
			last = t
		}
		if !t.add(r.Offset, r.LeaderEpoch) {
			return
		}
		i := len(msgs)
		handles[i] = kafkaHandle{src: s, tracker: t, rec: r}
		m := &backing[i]
		fillMessage(m, r, &handles[i])
		msgs = append(msgs, m)
	})
	return msgs
}

func fillMessage(m *Message, r *kgo.Record, h *kafkaHandle) {
	*m = Message{
		Body:      r.Value,
		Key:       r.Key,
		ID:        recordID(r.Topic, r.Partition, r.Offset),
		Source:    r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Attempt:   1,
		Timestamp: r.Timestamp,
		handle:    h,
	}
	if len(r.Headers) > 0 {
		m.Attributes = make(map[string]string, len(r.Headers))
		for _, hd := range r.Headers {
			m.Attributes[hd.Key] = string(hd.Value) // a repeated key keeps its last value
		}
	}
}

func recordID(topic string, partition int32, offset int64) string {
	b := make([]byte, 0, len(topic)+24)
	b = append(b, topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, offset, 10)
	return string(b)
}

func (s *kafkaSource) handleOf(m *Message) (*kafkaHandle, error) {
	if m == nil {
		return nil, ErrForeignMessage
	}
	h, ok := m.handle.(*kafkaHandle)
	if !ok || h.src != s {
		return nil, fmt.Errorf("%w: %s", ErrForeignMessage, m.ID)
	}
	return h, nil
}

// Ack marks messages finished; their offsets are committed with the next
// commit once every earlier record of their partition is finished too. Acks
// of records whose partition was revoked meanwhile are ignored: the new
// owner reads them again.
func (s *kafkaSource) Ack(_ context.Context, ms ...*Message) error {
	var bad error
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		h, err := s.handleOf(m)
		if err != nil {
			bad = err
			continue
		}
		if !h.tracker.revoked {
			h.tracker.finish(h.rec.Offset)
		}
	}
	return bad
}

// Retry always fails with ErrRetryInPlace: a Kafka partition is a log, and
// the worker retries in place (InPlaceRetry).
func (s *kafkaSource) Retry(context.Context, *Message, time.Duration) error {
	return ErrRetryInPlace
}

// InPlaceRetry reports true.
func (s *kafkaSource) InPlaceRetry() bool { return true }

// Extend is a no-op: franz-go heartbeats in the background whatever the
// handlers do, so a long handler does not lose its partition (see the file
// comment on liveness).
func (s *kafkaSource) Extend(context.Context, *Message, time.Duration) error { return nil }

// DeadLetter produces the record to DeadLetterTopic — same key, value and
// headers, plus the DiagnosticsAttribute header holding d as JSON (replacing
// any earlier one) — waits for the broker's acks=all acknowledgement, then
// marks the record finished. On error the record stays unfinished, so the
// commit cannot pass it. If its partition was revoked meanwhile nothing is
// produced: the new owner reads the record again.
func (s *kafkaSource) DeadLetter(ctx context.Context, m *Message, d Diagnostics) error {
	h, err := s.handleOf(m)
	if err != nil {
		return err
	}
	if s.cfg.DeadLetterTopic == "" {
		return ErrNoDeadLetterTopic
	}
	s.mu.Lock()
	revoked := h.tracker.revoked
	s.mu.Unlock()
	if revoked {
		s.logger.Debug("sluice: dead letter skipped: partition revoked", "id", m.ID)
		return nil
	}
	if d.Source == "" {
		d.Source = h.rec.Topic
	}
	if d.Partition == nil {
		p := h.rec.Partition
		d.Partition = &p
	}
	if d.Offset == nil {
		o := h.rec.Offset
		d.Offset = &o
	}
	diag, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("sluice: kafka dead letter %s: diagnostics: %w", m.ID, err)
	}
	rec := &kgo.Record{
		Topic:   s.cfg.DeadLetterTopic,
		Key:     h.rec.Key,
		Value:   h.rec.Value,
		Headers: make([]kgo.RecordHeader, 0, len(h.rec.Headers)+1),
	}
	for _, hd := range h.rec.Headers {
		if hd.Key != DiagnosticsAttribute {
			rec.Headers = append(rec.Headers, hd)
		}
	}
	rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: DiagnosticsAttribute, Value: diag})
	if err := s.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("sluice: kafka dead letter %s to %s: %w", m.ID, s.cfg.DeadLetterTopic, err)
	}
	s.mu.Lock()
	if !h.tracker.revoked {
		h.tracker.finish(h.rec.Offset)
	}
	s.mu.Unlock()
	return nil
}

// Pause stops fetching the source's topics while keeping the assignment
// (no rebalance), and Fetch waits until Resume. Records franz-go had
// already buffered are not handed out while paused; its fetch position does
// not move past them, so they come after Resume — none is skipped.
// Records Fetch returned before Pause stay in flight as usual.
func (s *kafkaSource) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return
	}
	s.paused = true
	s.resumed = make(chan struct{})
	s.cl.PauseFetchTopics(s.cfg.Topics...)
}

// Resume undoes Pause.
func (s *kafkaSource) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.paused {
		return
	}
	s.paused = false
	s.cl.ResumeFetchTopics(s.cfg.Topics...)
	close(s.resumed)
}

// Close commits what finished, leaves the group (unless static, see
// InstanceID) and closes the client. Unfinished records are not committed:
// the partition's next owner reads them again. Fetch returns ErrClosed after
// Close.
func (s *kafkaSource) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		close(s.stop)
		<-s.committerDone
		if err := s.commit(ctx, nil); err != nil {
			s.closeErr = err
		}
		// Leaving runs onRevoked once more (closing: no waiting), which
		// commits anything finished since.
		s.cl.AllowRebalance()
		if err := s.cl.LeaveGroupContext(ctx); err != nil && s.closeErr == nil && ctx.Err() == nil {
			s.closeErr = fmt.Errorf("sluice: kafka leave group: %w", err)
		}
		s.cl.Close()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	})
	return s.closeErr
}

// kgoLogger forwards franz-go's warnings and errors to slog.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo // franz-go's group and rebalance reports
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
	default:
		lv = slog.LevelInfo
	}
	k.l.Log(context.Background(), lv, "kgo: "+msg, keyvals...)
}
