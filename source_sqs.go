package sluice

// source_sqs.go: the SQS Source, over aws-sdk-go-v2 — so the same worker runs against Sluice's
// SQS listener and Amazon SQS.
//
//   - Fetch: long-poll ReceiveMessage of up to 10 (WaitTimeSeconds, all system and message
//     attributes). Pause cuts a long poll in flight so that nothing more is leased while paused.
//   - Ack: DeleteMessageBatch, collecting up to 10 receipt handles for at most DeleteBatchLinger.
//   - Retry / Extend / Release: ChangeMessageVisibility(Batch) with the backoff, the lease, or 0.
//   - DeadLetter: SendMessage to DeadLetterQueueURL (the body, the original attributes and the
//     sluice-diagnostics JSON attribute), then delete the original.
//   - Backlog: GetQueueAttributes ApproximateNumberOfMessages + …Delayed; the oldest message's
//     age is estimated (SQS has no such attribute): see Backlog.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ErrNoDeadLetter is returned by Source.DeadLetter when no dead-letter destination is configured.
var ErrNoDeadLetter = errors.New("sluice: no dead-letter destination configured")

// SQSSourceConfig configures NewSQSSource. QueueURL and one of Client or Endpoint are required.
type SQSSourceConfig struct {
	// QueueURL is the queue to consume. Required.
	QueueURL string
	// Client is the SQS client to use. When nil, one is made from Endpoint and Region with
	// credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default "sluice"/"sluice", which
	// Sluice accepts).
	Client *sqs.Client
	// Endpoint is the SQS endpoint when Client is nil, e.g. "http://127.0.0.1:9324".
	Endpoint string
	// Region is the AWS region when Client is nil (default $AWS_REGION, else "us-east-1").
	Region string
	// WaitTime is the long-poll wait of one receive (default 20s, the SQS maximum).
	WaitTime time.Duration
	// VisibilityTimeout is asked for on every receive, and is the lease the worker extends.
	// Default: the queue's own VisibilityTimeout, read once by NewSQSSource. Whole seconds.
	VisibilityTimeout time.Duration
	// DeadLetterQueueURL receives messages that used up their attempts. Without it, DeadLetter
	// fails with ErrNoDeadLetter and the worker keeps retrying (the queue's own RedrivePolicy,
	// if any, then moves the message).
	DeadLetterQueueURL string
	// MaxMessages is the most messages per receive (default and maximum 10).
	MaxMessages int
	// DeleteBatchLinger is how long an ack waits for others to share its DeleteMessageBatch
	// (default 5ms; a batch of 10 goes at once).
	DeleteBatchLinger time.Duration
	// Logger receives the source's reports (default slog.Default()).
	Logger *slog.Logger
}

// sqsSource is the Source for an SQS queue (see NewSQSSource).
type sqsSource struct {
	cfg   SQSSourceConfig
	cl    *sqs.Client
	own   *http.Client // made here, so Close can drop its idle connections; nil otherwise
	name  string       // queue name (Message.Source)
	lease time.Duration
	fifo  bool // the DLQ is FIFO

	mu         sync.Mutex
	held       map[*sqsHandle]*Message // received and not yet settled
	paused     bool
	resumed    chan struct{} // closed on Resume; replaced on Pause
	cancelRecv context.CancelFunc
	closed     bool
	lastSent   time.Time // newest SentTimestamp among first receives of the last receive
	lastEmpty  time.Time // when a receive last found the queue empty

	// Acks enqueue under ackMu's read lock; Close takes the write lock to set acksClosed, so
	// that no ack slips into del after the batcher's final flush (it would never be answered).
	ackMu      sync.RWMutex
	acksClosed bool
	del        chan delReq
	stop       chan struct{}
	deleter    sync.WaitGroup
}

// sqsHandle is Message.handle for SQS messages.
type sqsHandle struct {
	receipt string
	attrs   map[string]types.MessageAttributeValue // as received, binary included
}

type delReq struct {
	receipt string
	res     chan error
}

// NewSQSSource checks the configuration, reads the queue's visibility timeout (unless given)
// and starts the delete batcher (stopped by Close).
func NewSQSSource(cfg SQSSourceConfig) (Source, error) {
	if cfg.QueueURL == "" {
		return nil, errors.New("sluice: SQSSourceConfig.QueueURL is required")
	}
	if cfg.WaitTime < 0 || cfg.WaitTime > 20*time.Second {
		return nil, fmt.Errorf("sluice: SQSSourceConfig.WaitTime %v: want 0..20s", cfg.WaitTime)
	}
	if cfg.VisibilityTimeout < 0 || cfg.VisibilityTimeout > 12*time.Hour {
		return nil, fmt.Errorf("sluice: SQSSourceConfig.VisibilityTimeout %v: want 0..12h", cfg.VisibilityTimeout)
	}
	if cfg.MaxMessages < 0 || cfg.MaxMessages > 10 {
		return nil, fmt.Errorf("sluice: SQSSourceConfig.MaxMessages %d: want 1..10", cfg.MaxMessages)
	}
	if cfg.WaitTime == 0 {
		cfg.WaitTime = 20 * time.Second
	}
	if cfg.MaxMessages == 0 {
		cfg.MaxMessages = 10
	}
	if cfg.DeleteBatchLinger <= 0 {
		cfg.DeleteBatchLinger = 5 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &sqsSource{
		cfg: cfg, cl: cfg.Client, name: queueNameOf(cfg.QueueURL),
		held: map[*sqsHandle]*Message{}, resumed: make(chan struct{}),
		del: make(chan delReq, 64), stop: make(chan struct{}),
		fifo: strings.HasSuffix(cfg.DeadLetterQueueURL, ".fifo"),
	}
	close(s.resumed)
	if s.cl == nil {
		cl, hc, err := newSQSClient(cfg.Endpoint, cfg.Region)
		if err != nil {
			return nil, err
		}
		s.cl, s.own = cl, hc
	}
	s.lease = cfg.VisibilityTimeout.Truncate(time.Second)
	if s.lease == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := s.cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(cfg.QueueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout},
		})
		if err != nil {
			s.closeIdle()
			return nil, fmt.Errorf("sluice: SQS source %s: read VisibilityTimeout: %w", s.name, err)
		}
		vt, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
		s.lease = time.Duration(max(vt, 1)) * time.Second
	}
	s.deleter.Go(s.deleteLoop)
	return s, nil
}

// newSQSClient makes a client for endpoint with its own transport.
func newSQSClient(endpoint, region string) (*sqs.Client, *http.Client, error) {
	ep := strings.TrimSpace(endpoint)
	if ep == "" {
		return nil, nil, errors.New("sluice: an SQS Client or Endpoint is required")
	}
	if !strings.Contains(ep, "://") {
		ep = "http://" + ep
	}
	if _, err := url.Parse(ep); err != nil {
		return nil, nil, fmt.Errorf("sluice: SQS Endpoint %q: %w", endpoint, err)
	}
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		key, secret = "sluice", "sluice"
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	cl := sqs.New(sqs.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN")),
		BaseEndpoint: aws.String(ep),
		HTTPClient:   hc,
	})
	return cl, hc, nil
}

func queueNameOf(u string) string {
	u = strings.TrimRight(u, "/")
	if i := strings.LastIndexByte(u, '/'); i >= 0 {
		return u[i+1:]
	}
	return u
}

func (s *sqsSource) leaseDuration() time.Duration { return s.lease }

// InPlaceRetry is false: SQS redelivers a message handed back with Retry.
func (s *sqsSource) InPlaceRetry() bool { return false }

// Pause stops fetching: a receive still waiting abandonGrace from now is cut, and Fetch waits
// for Resume.
func (s *sqsSource) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		return
	}
	s.paused = true
	s.resumed = make(chan struct{})
	if c := s.cancelRecv; c != nil {
		// Not at once: an answer already on its way is taken (its messages are leased to us
		// and the worker holds them); a long poll still waiting is cut so that nothing new
		// is leased while paused. See abandon.
		time.AfterFunc(abandonGrace, c)
	}
}

// Resume lets Fetch receive again.
func (s *sqsSource) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		s.paused = false
		close(s.resumed)
	}
}

// Fetch long-polls until at least one message arrives or ctx ends; it returns at most
// min(max, MaxMessages) messages.
func (s *sqsSource) Fetch(ctx context.Context, max int) ([]*Message, error) {
	n := int32(min(max, s.cfg.MaxMessages))
	if n < 1 {
		n = 1
	}
	in := &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(s.cfg.QueueURL),
		MaxNumberOfMessages:         n,
		WaitTimeSeconds:             int32(s.cfg.WaitTime / time.Second),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	}
	if s.cfg.VisibilityTimeout > 0 {
		in.VisibilityTimeout = int32(s.lease / time.Second)
	}
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if s.paused {
			wait := s.resumed
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-wait:
				continue
			}
		}
		// The receive is detached from ctx: see abandon.
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.cancelRecv = cancel
		s.mu.Unlock()

		res := make(chan receiveResult, 1)
		go func() {
			out, err := s.cl.ReceiveMessage(rctx, in)
			res <- receiveResult{out, err}
		}()
		var r receiveResult
		select {
		case r = <-res:
		case <-ctx.Done():
			s.abandon(res, cancel)
			return nil, ctx.Err()
		}
		s.mu.Lock()
		s.cancelRecv = nil
		s.mu.Unlock()
		cancel()
		out, err := r.out, r.err
		if err != nil {
			if rctx.Err() != nil {
				continue // cancelled by Pause (or Close: the loop returns ErrClosed)
			}
			return nil, fmt.Errorf("sluice: SQS source %s: receive: %w", s.name, err)
		}
		if len(out.Messages) == 0 {
			s.mu.Lock()
			s.lastEmpty = time.Now()
			s.mu.Unlock()
			continue
		}
		return s.convert(out.Messages), nil
	}
}

type receiveResult struct {
	out *sqs.ReceiveMessageOutput
	err error
}

// abandonGrace is how long a Fetch whose caller gave up still waits for its receive's answer.
const abandonGrace = 250 * time.Millisecond

// abandon settles a receive whose caller went away (the worker is shutting down). Cutting the
// HTTP request at once would lose the answer of a receive the queue already served: its
// messages would stay leased, invisible to everyone, until their visibility timeout ends. So
// the answer gets a moment to land; messages in it are made visible again at once. A long
// poll still waiting after that is cut: the queue had nothing for it, and one that leases
// nothing after the cut hands nothing out.
func (s *sqsSource) abandon(res chan receiveResult, cancel context.CancelFunc) {
	t := time.NewTimer(abandonGrace)
	var r receiveResult
	select {
	case r = <-res:
	case <-t.C:
		cancel()
		r = <-res
	}
	t.Stop()
	cancel()
	s.mu.Lock()
	s.cancelRecv = nil
	s.mu.Unlock()
	if r.err != nil || r.out == nil || len(r.out.Messages) == 0 {
		return
	}
	receipts := make([]string, len(r.out.Messages))
	for i, m := range r.out.Messages {
		receipts[i] = aws.ToString(m.ReceiptHandle)
	}
	ctx, cancelRel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelRel()
	if err := s.release(ctx, receipts); err != nil {
		s.cfg.Logger.Warn("sluice: SQS source: releasing an abandoned receive failed; the messages return after their visibility timeout",
			"queue", s.name, "messages", len(receipts), "err", err)
	}
}

func (s *sqsSource) convert(in []types.Message) []*Message {
	out := make([]*Message, len(in))
	var newest time.Time
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range in {
		m := &Message{
			Body:   []byte(aws.ToString(r.Body)),
			ID:     aws.ToString(r.MessageId),
			Source: s.name,
		}
		if len(r.MessageAttributes) > 0 {
			m.Attributes = make(map[string]string, len(r.MessageAttributes))
			for k, v := range r.MessageAttributes {
				if v.StringValue != nil { // String and Number types; Binary stays in the handle
					m.Attributes[k] = *v.StringValue
				}
			}
		}
		sys := r.Attributes
		m.Attempt, _ = strconv.Atoi(sys[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		m.Timestamp = msAttr(sys[string(types.MessageSystemAttributeNameSentTimestamp)])
		m.FirstAttempt = msAttr(sys[string(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)])
		if g := sys[string(types.MessageSystemAttributeNameMessageGroupId)]; g != "" {
			m.Key = []byte(g)
		}
		m.DeduplicationID = sys[string(types.MessageSystemAttributeNameMessageDeduplicationId)]
		if m.Attempt <= 1 && m.Timestamp.After(newest) {
			newest = m.Timestamp
		}
		h := &sqsHandle{receipt: aws.ToString(r.ReceiptHandle), attrs: r.MessageAttributes}
		m.handle = h
		s.held[h] = m
		out[i] = m
	}
	if !newest.IsZero() {
		s.lastSent = newest
	}
	return out
}

func msAttr(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// handleOf returns m's receipt and forgets it as held when settle is set.
func (s *sqsSource) handleOf(m *Message, settle bool) (*sqsHandle, error) {
	h, ok := m.handle.(*sqsHandle)
	if !ok || h == nil {
		return nil, ErrForeignMessage
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if settle {
		delete(s.held, h)
	}
	return h, nil
}

// Ack deletes the messages, sharing DeleteMessageBatch calls with concurrent acks. It returns
// once the deletes are answered.
func (s *sqsSource) Ack(ctx context.Context, ms ...*Message) error {
	reqs := make([]delReq, 0, len(ms))
	var errs []error
	for _, m := range ms {
		h, err := s.handleOf(m, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r := delReq{receipt: h.receipt, res: make(chan error, 1)}
		s.ackMu.RLock()
		if s.acksClosed {
			errs = append(errs, ErrClosed)
		} else {
			select {
			case s.del <- r: // the batcher runs until acksClosed, so this cannot block for good
				reqs = append(reqs, r)
			case <-ctx.Done():
				errs = append(errs, ctx.Err())
			}
		}
		s.ackMu.RUnlock()
	}
	for _, r := range reqs {
		select {
		case err := <-r.res:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return errors.Join(append(errs, ctx.Err())...)
		}
	}
	return errors.Join(errs...)
}

// deleteLoop collects acks into DeleteMessageBatch calls of up to 10, each waiting at most
// DeleteBatchLinger for company. Up to 4 calls run at once. It ends (flushing) when stop closes.
func (s *sqsSource) deleteLoop() {
	var (
		batch   []delReq
		linger  <-chan time.Time
		timer   *time.Timer
		flights sync.WaitGroup
		slots   = make(chan struct{}, 4)
	)
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, linger = nil, nil
		}
		if len(batch) == 0 {
			return
		}
		b := batch
		batch = nil
		slots <- struct{}{}
		flights.Go(func() {
			defer func() { <-slots }()
			s.deleteBatch(b)
		})
	}
	defer flights.Wait()
	for {
		select {
		case r := <-s.del:
			batch = append(batch, r)
			if len(batch) == 10 {
				flush()
			} else if timer == nil {
				timer = time.NewTimer(s.cfg.DeleteBatchLinger)
				linger = timer.C
			}
		case <-linger:
			timer, linger = nil, nil
			flush()
		case <-s.stop:
			for { // acks that got in before stop
				select {
				case r := <-s.del:
					batch = append(batch, r)
					if len(batch) == 10 {
						flush()
					}
					continue
				default:
				}
				break
			}
			flush()
			return
		}
	}
}

func (s *sqsSource) deleteBatch(b []delReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries := make([]types.DeleteMessageBatchRequestEntry, len(b))
	for i, r := range b {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.receipt)}
	}
	out, err := s.cl.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.cfg.QueueURL), Entries: entries})
	if err != nil {
		err = fmt.Errorf("sluice: SQS source %s: delete: %w", s.name, err)
		for _, r := range b {
			r.res <- err
		}
		return
	}
	failed := map[int]error{}
	for _, f := range out.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		failed[i] = fmt.Errorf("sluice: SQS source %s: delete: %s: %s", s.name, aws.ToString(f.Code), aws.ToString(f.Message))
	}
	for i, r := range b {
		r.res <- failed[i]
	}
}

// visibilitySeconds rounds d up to whole seconds within SQS's 0..12h.
func visibilitySeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32(min(math.Ceil(d.Seconds()), 43200))
}

// Retry hands m back, visible again after delay (rounded up to whole seconds). SQS counts the
// next receive, which gives the next Attempt.
func (s *sqsSource) Retry(ctx context.Context, m *Message, delay time.Duration) error {
	h, err := s.handleOf(m, true)
	if err != nil {
		return err
	}
	_, err = s.cl.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(s.cfg.QueueURL), ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: visibilitySeconds(delay),
	})
	if err != nil {
		return fmt.Errorf("sluice: SQS source %s: retry %s: %w", s.name, m.ID, err)
	}
	return nil
}

// Extend keeps m invisible for another by (rounded up to whole seconds) from now.
func (s *sqsSource) Extend(ctx context.Context, m *Message, by time.Duration) error {
	h, err := s.handleOf(m, false)
	if err != nil {
		return err
	}
	_, err = s.cl.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(s.cfg.QueueURL), ReceiptHandle: aws.String(h.receipt), VisibilityTimeout: visibilitySeconds(by),
	})
	if err != nil {
		return fmt.Errorf("sluice: SQS source %s: extend %s: %w", s.name, m.ID, err)
	}
	return nil
}

// Release makes messages visible again at once (the worker hands back what it did not start).
func (s *sqsSource) Release(ctx context.Context, ms ...*Message) error {
	var receipts []string
	var errs []error
	for _, m := range ms {
		h, err := s.handleOf(m, true)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		receipts = append(receipts, h.receipt)
	}
	if err := s.release(ctx, receipts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *sqsSource) release(ctx context.Context, receipts []string) error {
	var errs []error
	for len(receipts) > 0 {
		n := min(len(receipts), 10)
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, r := range receipts[:n] {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r)}
		}
		receipts = receipts[n:]
		out, err := s.cl.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(s.cfg.QueueURL), Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("sluice: SQS source %s: release: %w", s.name, err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("sluice: SQS source %s: release: %s: %s", s.name, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}

// sqsDiagnostics is the JSON of the diagnostics attribute: Diagnostics plus, when the original
// had all 10 attributes SQS allows, the ones that did not fit beside it (Binary values base64).
type sqsDiagnostics struct {
	Diagnostics
	ExtraAttributes map[string]string `json:"extra_attributes,omitempty"`
}

// DeadLetter sends m to DeadLetterQueueURL with its attributes and d, then deletes it here.
// A crash in between leaves a copy in both queues, never none.
func (s *sqsSource) DeadLetter(ctx context.Context, m *Message, d Diagnostics) error {
	if s.cfg.DeadLetterQueueURL == "" {
		return ErrNoDeadLetter
	}
	h, err := s.handleOf(m, false)
	if err != nil {
		return err
	}
	in := deadLetterInput(s.cfg.DeadLetterQueueURL, s.fifo, m, h.attrs, d)
	if _, err := s.cl.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sluice: SQS source %s: dead-letter %s: %w", s.name, m.ID, err)
	}
	return s.Ack(ctx, m)
}

func deadLetterInput(dlq string, fifo bool, m *Message, attrs map[string]types.MessageAttributeValue, d Diagnostics) *sqs.SendMessageInput {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		if k != DiagnosticsAttribute { // a message dead-lettered again carries the new story
			names = append(names, k)
		}
	}
	sort.Strings(names)
	out := make(map[string]types.MessageAttributeValue, min(len(names), 9)+1)
	sd := sqsDiagnostics{Diagnostics: d}
	for i, k := range names {
		v := attrs[k]
		if i < 9 {
			out[k] = v
			continue
		}
		if sd.ExtraAttributes == nil {
			sd.ExtraAttributes = map[string]string{}
		}
		if v.StringValue != nil {
			sd.ExtraAttributes[k] = *v.StringValue
		} else {
			sd.ExtraAttributes[k] = base64.StdEncoding.EncodeToString(v.BinaryValue)
		}
	}
	js, _ := json.Marshal(sd) // plain struct of strings, times and numbers: cannot fail
	out[DiagnosticsAttribute] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(string(js))}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: aws.String(string(m.Body)), MessageAttributes: out}
	if fifo {
		g := string(m.Key)
		if g == "" {
			g = "dead-letter"
		}
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(g), aws.String(m.ID)
	}
	return in
}

// Backlog reads ApproximateNumberOfMessages (+ …Delayed) as the depth. SQS has no "age of the
// oldest message" attribute, so OldestAge is estimated: queues hand out roughly oldest first,
// so whatever still waits was sent after the newest first-time message of the last receive
// (or after the last empty receive); its age is at most now minus that time. 0 when the queue
// is empty or nothing was received yet.
func (s *sqsSource) Backlog(ctx context.Context) (Backlog, error) {
	out, err := s.cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(s.cfg.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed},
	})
	if err != nil {
		return Backlog{}, fmt.Errorf("sluice: SQS source %s: backlog: %w", s.name, err)
	}
	vis, _ := strconv.ParseInt(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
	del, _ := strconv.ParseInt(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesDelayed)], 10, 64)
	b := Backlog{Depth: vis + del}
	if vis > 0 {
		s.mu.Lock()
		since := s.lastSent
		if s.lastEmpty.After(since) {
			since = s.lastEmpty
		}
		s.mu.Unlock()
		if !since.IsZero() {
			b.OldestAge = max(time.Since(since), 0)
		}
	}
	return b, nil
}

// Close flushes pending deletes, makes every message still held visible again, and stops the
// delete batcher. Later calls return nil.
func (s *sqsSource) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.cancelRecv != nil {
		s.cancelRecv()
	}
	receipts := make([]string, 0, len(s.held))
	for h := range s.held {
		receipts = append(receipts, h.receipt)
	}
	s.held = map[*sqsHandle]*Message{}
	s.mu.Unlock()
	s.ackMu.Lock()
	s.acksClosed = true
	s.ackMu.Unlock()
	close(s.stop)
	s.deleter.Wait()
	err := s.release(ctx, receipts)
	s.closeIdle()
	return err
}

func (s *sqsSource) closeIdle() {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
}
