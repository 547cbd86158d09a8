package sluice

// producer_sqs.go: the SQS destination. Accepted messages wait in a queue
// until a batch is full (10 entries or 1 MiB, SendMessageBatch's limits),
// Linger has passed since the oldest one, or someone waits for them
// (PublishSync, Flush). Up to MaxInFlight batches are sent at once (one for
// FIFO queues, to keep group order).
//
// Failures, per entry: a sender fault (SenderFault=true: invalid body,
// too large, bad attributes …) is permanent and reported at once; any other
// entry failure is retried with exponential backoff until DeliveryTimeout.
// Whole-call failures: transport errors, server faults and throttling are
// retried the same way (on top of the AWS client's own retries); client
// errors (QueueDoesNotExist, access denied …) fail the whole batch.
//
// Goroutines: the batcher (run), and one per batch in flight (send), at
// most MaxInFlight; close cancels the sends, stops the batcher and fails
// what is left with ErrClosed.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
)

// SendMessageBatch limits.
const (
	sqsMaxBatchEntries = 10
	sqsMaxBatchBytes   = 1 << 20
	sqsMaxDelay        = 15 * time.Minute
	sqsMaxAttributes   = 10
)

// SQS producer defaults.
const (
	DefaultSQSLinger       = 10 * time.Millisecond
	DefaultSQSMaxInFlight  = 4
	DefaultSQSRegion       = "us-east-1"
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultMaxRetryBackoff = 5 * time.Second
)

// SQSProducerConfig configures NewSQSProducer. Zero values take the
// defaults named.
type SQSProducerConfig struct {
	// QueueURL is the destination queue. Required. A URL ending in ".fifo"
	// is a FIFO queue: Key becomes MessageGroupId, DeduplicationID
	// MessageDeduplicationId (both ignored for standard queues).
	QueueURL string
	// Client is the SQS client to use. If nil, one is made for Endpoint.
	Client *sqs.Client
	// Endpoint is the SQS base URL (e.g. "http://127.0.0.1:9324"), used
	// when Client is nil; then required.
	Endpoint string
	// Region for a client made from Endpoint. Default "us-east-1".
	Region string
	// Credentials for a client made from Endpoint. Default static
	// credentials "sluice"/"sluice" (Sluice accepts any).
	Credentials aws.CredentialsProvider
	// Linger: how long the oldest waiting message waits for a batch to
	// fill. Default 10ms; negative: no wait.
	Linger time.Duration
	// MaxInFlight: SendMessageBatch calls at once. Default 4; always 1 for
	// FIFO queues.
	MaxInFlight int
	// BufferMemory: bytes of messages accepted but not yet resolved (body,
	// attributes, key and 64 bytes each). Default 32 MiB.
	BufferMemory int64
	// MaxBlock: how long Publish and PublishSync wait for buffer space
	// before ErrBufferFull. Default 60s; negative: no wait.
	MaxBlock time.Duration
	// DeliveryTimeout: how long a message may be retried before it fails.
	// Default 2 minutes.
	DeliveryTimeout time.Duration
	// RetryBackoff: the first wait before a retry, doubling (with jitter)
	// up to 5s. Default 100ms.
	RetryBackoff time.Duration
	// OnError receives every fire-and-forget message that failed, on one
	// goroutine, one call at a time. Default: log (counted either way).
	OnError func(Message, error)
	// Throttle enables depth-based throttling on the queue's depth.
	Throttle *ThrottleConfig
	// Logger receives the producer's reports. Default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the producer's Prometheus metrics.
	Registerer prometheus.Registerer
}

// SQSEntryError is SQS's refusal of one message of a SendMessageBatch.
type SQSEntryError struct {
	Code, Message string
	SenderFault   bool // the message itself is at fault: retrying cannot help
}

func (e *SQSEntryError) Error() string {
	return fmt.Sprintf("sluice: sqs refused the message: %s: %s", e.Code, e.Message)
}

type sqsDest struct {
	cl              *sqs.Client
	url             string
	fifo            bool
	linger          time.Duration
	deliveryTimeout time.Duration
	backoff         time.Duration
	httpc           *http.Client // made here, so its idle connections are closed here; nil otherwise
	p               *Producer

	mu      sync.Mutex // guards q, qBytes, sendNow
	q       []*pending
	qBytes  int
	sendNow bool // someone waits: send without lingering until q empties

	wake   chan struct{}
	sem    chan struct{} // batches in flight
	ctx    context.Context
	cancel context.CancelFunc
	quit   chan struct{}
	wg     sync.WaitGroup
}

// NewSQSProducer returns a producer to cfg.QueueURL.
func NewSQSProducer(cfg SQSProducerConfig) (*Producer, error) {
	if cfg.QueueURL == "" {
		return nil, configError("QueueURL", "required")
	}
	if cfg.Client == nil && cfg.Endpoint == "" {
		return nil, configError("Client", "a Client or an Endpoint is required")
	}
	if cfg.MaxInFlight < 0 || cfg.DeliveryTimeout < 0 || cfg.RetryBackoff < 0 {
		return nil, configError("MaxInFlight/DeliveryTimeout/RetryBackoff", "must not be negative")
	}
	common := producerCommon{
		bufferMemory: cfg.BufferMemory, maxBlock: cfg.MaxBlock, onError: cfg.OnError,
		throttle: cfg.Throttle, logger: cfg.Logger, registerer: cfg.Registerer,
	}
	if err := common.defaults(); err != nil {
		return nil, err
	}
	d := &sqsDest{
		cl:              cfg.Client,
		url:             cfg.QueueURL,
		fifo:            strings.HasSuffix(cfg.QueueURL, ".fifo"),
		linger:          cfg.Linger,
		deliveryTimeout: cfg.DeliveryTimeout,
		backoff:         cfg.RetryBackoff,
		wake:            make(chan struct{}, 1),
		quit:            make(chan struct{}),
	}
	switch {
	case d.linger == 0:
		d.linger = DefaultSQSLinger
	case d.linger < 0:
		d.linger = 0
	}
	if d.deliveryTimeout == 0 {
		d.deliveryTimeout = DefaultDeliveryTimeout
	}
	if d.backoff == 0 {
		d.backoff = DefaultRetryBackoff
	}
	inflight := cfg.MaxInFlight
	if inflight == 0 {
		inflight = DefaultSQSMaxInFlight
	}
	if d.fifo {
		inflight = 1
	}
	d.sem = make(chan struct{}, inflight)
	if d.cl == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = inflight + 2 // one per sender, the throttle poller, spare
		d.httpc = &http.Client{Transport: tr}
		region, creds := cfg.Region, cfg.Credentials
		if region == "" {
			region = DefaultSQSRegion
		}
		if creds == nil {
			creds = credentials.NewStaticCredentialsProvider("sluice", "sluice", "")
		}
		d.cl = sqs.New(sqs.Options{Region: region, Credentials: creds, BaseEndpoint: aws.String(cfg.Endpoint), HTTPClient: d.httpc})
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	p, err := newProducer(d, lastSegment(cfg.QueueURL), "sqs", common)
	if err != nil {
		d.cancel()
		return nil, err
	}
	d.p = p
	d.wg.Add(1)
	go d.run()
	return p, nil
}

// validate refuses what SQS would refuse for the message itself, so that
// the caller learns at once rather than through OnError.
func (d *sqsDest) validate(m *Message) error {
	if len(m.Body) == 0 {
		return fmt.Errorf("%w: SQS needs a non-empty body", ErrInvalidMessage)
	}
	if !validSQSText(m.Body) {
		return fmt.Errorf("%w: SQS bodies are XML text: valid UTF-8 without control characters other than tab, LF, CR", ErrInvalidMessage)
	}
	if m.Delay < 0 || m.Delay > sqsMaxDelay {
		return fmt.Errorf("%w: Delay %v outside 0..15m", ErrInvalidMessage, m.Delay)
	}
	if len(m.Attributes) > sqsMaxAttributes {
		return fmt.Errorf("%w: %d attributes, SQS allows %d", ErrInvalidMessage, len(m.Attributes), sqsMaxAttributes)
	}
	if d.fifo && len(m.Key) == 0 {
		return fmt.Errorf("%w: a FIFO queue needs a Key (MessageGroupId)", ErrInvalidMessage)
	}
	return nil
}

// validSQSText: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func validSQSText(b []byte) bool {
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf { // ASCII fast path
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		b = b[n:]
	}
	return true
}

// sqsSize is a message's size as SQS counts it towards the batch limit.
func sqsSize(m *Message) int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += len(k) + len("String") + len(v)
	}
	return n
}

func (d *sqsDest) submit(ps []*pending, urgent bool) {
	d.mu.Lock()
	for _, pd := range ps {
		d.q = append(d.q, pd)
		d.qBytes += sqsSize(&pd.msg)
	}
	if urgent {
		d.sendNow = true
	}
	d.mu.Unlock()
	d.poke()
}

func (d *sqsDest) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *sqsDest) flush(context.Context) error {
	d.mu.Lock()
	if len(d.q) > 0 {
		d.sendNow = true
	}
	d.mu.Unlock()
	d.poke()
	return nil
}

// run is the batcher: it cuts batches from q and starts their sends.
func (d *sqsDest) run() {
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		d.mu.Lock()
		if len(d.q) == 0 {
			d.sendNow = false
			d.mu.Unlock()
			select {
			case <-d.wake:
				continue
			case <-d.quit:
				return
			}
		}
		full := len(d.q) >= sqsMaxBatchEntries || d.qBytes >= sqsMaxBatchBytes
		wait := time.Until(d.q[0].at.Add(d.linger))
		if !full && !d.sendNow && wait > 0 {
			d.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-d.wake:
				timer.Stop()
			case <-d.quit:
				timer.Stop()
				return
			}
			continue
		}
		batch := d.takeLocked()
		d.mu.Unlock()
		select {
		case d.sem <- struct{}{}:
		case <-d.quit:
			d.fail(batch, ErrClosed)
			return
		}
		d.wg.Add(1)
		go d.send(batch)
	}
}

// takeLocked removes the next batch from q: up to 10 entries and 1 MiB,
// at least one entry (an oversized one goes alone; SQS will say why).
func (d *sqsDest) takeLocked() []*pending {
	n, bytes := 0, 0
	for n < len(d.q) && n < sqsMaxBatchEntries {
		s := sqsSize(&d.q[n].msg)
		if n > 0 && bytes+s > sqsMaxBatchBytes {
			break
		}
		bytes += s
		n++
	}
	batch := make([]*pending, n)
	copy(batch, d.q)
	clear(d.q[:n]) // let resolved messages be collected
	d.q = d.q[n:]
	d.qBytes -= bytes
	if len(d.q) == 0 {
		d.q = nil // drop the consumed backing array
	}
	return batch
}

var sqsEntryIDs = [sqsMaxBatchEntries]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// send delivers one batch, retrying transient failures until the oldest
// message's DeliveryTimeout.
func (d *sqsDest) send(batch []*pending) {
	defer d.wg.Done()
	defer func() { <-d.sem }()
	deadline := batch[0].at.Add(d.deliveryTimeout)
	backoff := d.backoff
	entries := make([]types.SendMessageBatchRequestEntry, 0, len(batch))
	for len(batch) > 0 {
		entries = entries[:0]
		for i, pd := range batch {
			entries = append(entries, d.entry(sqsEntryIDs[i], &pd.msg))
		}
		out, err := d.cl.SendMessageBatch(d.ctx, &sqs.SendMessageBatchInput{QueueUrl: &d.url, Entries: entries})
		if err != nil {
			if d.ctx.Err() != nil {
				d.fail(batch, fmt.Errorf("%w: %w", ErrClosed, err))
				return
			}
			if !retryableSQS(err) || time.Now().Add(backoff).After(deadline) {
				d.fail(batch, fmt.Errorf("sluice: sqs send to %s: %w", d.url, err))
				return
			}
			if !d.sleep(&backoff) {
				d.fail(batch, ErrClosed)
				return
			}
			continue
		}
		resolved := make([]bool, len(batch))
		for _, s := range out.Successful {
			if i, ok := entryIndex(s.Id, len(batch)); ok && !resolved[i] {
				resolved[i] = true
				d.p.complete(batch[i], nil)
			}
		}
		var retry []*pending
		for _, f := range out.Failed {
			i, ok := entryIndex(f.Id, len(batch))
			if !ok || resolved[i] {
				continue
			}
			resolved[i] = true
			e := &SQSEntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
			if e.SenderFault || time.Now().Add(backoff).After(deadline) {
				d.p.complete(batch[i], e)
				continue
			}
			retry = append(retry, batch[i])
		}
		for i, ok := range resolved {
			if !ok { // SQS must list every entry; an answer that does not is an error, not a success
				d.p.complete(batch[i], fmt.Errorf("sluice: sqs send to %s: entry missing from the SendMessageBatch answer", d.url))
			}
		}
		batch = retry
		if len(batch) > 0 && !d.sleep(&backoff) {
			d.fail(batch, ErrClosed)
			return
		}
	}
}

func (d *sqsDest) entry(id string, m *Message) types.SendMessageBatchRequestEntry {
	e := types.SendMessageBatchRequestEntry{
		Id:           aws.String(id),
		MessageBody:  aws.String(string(m.Body)),
		DelaySeconds: int32(m.Delay / time.Second),
	}
	if len(m.Attributes) > 0 {
		e.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
		for k, v := range m.Attributes {
			e.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if d.fifo {
		e.MessageGroupId = aws.String(string(m.Key))
		if m.DeduplicationID != "" {
			e.MessageDeduplicationId = aws.String(m.DeduplicationID)
		}
	}
	return e
}

func entryIndex(id *string, n int) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	return i, err == nil && i >= 0 && i < n
}

// sleep waits the backoff with ±20% jitter and doubles it; false on close.
func (d *sqsDest) sleep(backoff *time.Duration) bool {
	w := time.Duration(float64(*backoff) * (0.8 + 0.4*rand.Float64()))
	*backoff = min(2**backoff, DefaultMaxRetryBackoff)
	t := time.NewTimer(w)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// retryableSQS: transport errors, server faults and throttling are worth
// another try; the caller's own faults are not.
func retryableSQS(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return true // no answer from SQS: connection refused, reset, timeout
	}
	switch ae.ErrorCode() {
	case "ThrottlingException", "RequestThrottled", "ServiceUnavailable", "InternalError", "InternalFailure",
		"KMS.ThrottlingException", "TooManyRequestsException", "RequestThrottledException":
		return true
	}
	return ae.ErrorFault() == smithy.FaultServer
}

func (d *sqsDest) fail(batch []*pending, err error) {
	for _, pd := range batch {
		d.p.complete(pd, err)
	}
}

// depth is the queue's waiting messages: visible plus delayed.
func (d *sqsDest) depth(ctx context.Context) (int64, error) {
	out, err := d.cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &d.url,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, k := range []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	} {
		if v, ok := out.Attributes[string(k)]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sluice: sqs attribute %s=%q: %w", k, v, err)
			}
			total += n
		}
	}
	return total, nil
}

func (d *sqsDest) close() {
	d.cancel()
	close(d.quit)
	d.wg.Wait()
	d.mu.Lock()
	left := d.q
	d.q, d.qBytes = nil, 0
	d.mu.Unlock()
	d.fail(left, ErrClosed)
	if d.httpc != nil {
		d.httpc.CloseIdleConnections()
	}
}
