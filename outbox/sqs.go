package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSConfig configures an SQSPublisher.
type SQSConfig struct {
	// Client is the aws-sdk-go-v2 SQS client to send with. Required.
	Client *sqs.Client
	// Parallel is how many SendMessageBatch calls run at once for one
	// standard queue (FIFO queues are always sent in order, one call at a
	// time). Default 4.
	Parallel int
}

// SQSPublisher publishes outbox rows with SendMessageBatch (up to 10
// entries and 256 KiB per call). The Destination is a queue URL or a queue
// name (resolved once with GetQueueUrl). Attributes become String message
// attributes (empty values are left out: SQS refuses them), plus
// IDAttribute when the message has fewer than 10 attributes (SQS's limit).
// For FIFO queues (".fifo") the Key is the MessageGroupId ("default" when
// empty) and the ID the MessageDeduplicationId. Entries SQS refuses are
// reported by index in a *PublishError and retried by the relay.
type SQSPublisher struct {
	client   *sqs.Client
	parallel int

	mu   sync.Mutex        // guards urls
	urls map[string]string // queue name → URL
}

// Limits of SendMessageBatch.
const (
	sqsBatchEntries = 10
	sqsBatchBytes   = 256 << 10
	sqsMaxAttrs     = 10
)

// NewSQSPublisher makes a publisher.
func NewSQSPublisher(cfg SQSConfig) (*SQSPublisher, error) {
	if cfg.Client == nil {
		return nil, &ConfigError{Field: "SQSConfig.Client", Reason: "required"}
	}
	if cfg.Parallel < 0 {
		return nil, &ConfigError{Field: "SQSConfig.Parallel", Reason: "negative"}
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	return &SQSPublisher{client: cfg.Client, parallel: cfg.Parallel, urls: make(map[string]string)}, nil
}

// Publish sends msgs, grouped by destination, and waits for SQS's answers.
func (p *SQSPublisher) Publish(ctx context.Context, msgs []Message) error {
	var (
		mu     sync.Mutex
		failed = make(map[int]error)
	)
	fail := func(idx []int, err error) {
		mu.Lock()
		defer mu.Unlock()
		for _, i := range idx {
			failed[i] = err
		}
	}
	// Group by destination, keeping enqueue order within each.
	var dests []string
	byDest := make(map[string][]int)
	for i := range msgs {
		d := msgs[i].Destination
		if _, ok := byDest[d]; !ok {
			dests = append(dests, d)
		}
		byDest[d] = append(byDest[d], i)
	}
	var wg sync.WaitGroup
	for _, d := range dests {
		idx := byDest[d]
		url, err := p.queueURL(ctx, d)
		if err != nil {
			fail(idx, err)
			continue
		}
		fifo := strings.HasSuffix(url, ".fifo")
		chunks := chunkSQS(msgs, idx)
		if fifo {
			// In order, and stop at the first failure so that a later
			// message of the same group does not overtake a failed one.
			wg.Go(func() {
				for n, c := range chunks {
					if !p.send(ctx, url, true, msgs, c, fail) {
						for _, rest := range chunks[n+1:] {
							fail(rest, errors.New("outbox: not sent: an earlier FIFO batch failed"))
						}
						return
					}
				}
			})
			continue
		}
		sem := make(chan struct{}, p.parallel)
		for _, c := range chunks {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				p.send(ctx, url, false, msgs, c, fail)
			})
		}
	}
	wg.Wait()
	if len(failed) == 0 {
		return nil
	}
	if len(failed) == len(msgs) && ctx.Err() != nil {
		return ctx.Err()
	}
	return &PublishError{Failed: failed}
}

// chunkSQS splits the indexes into SendMessageBatch-sized groups.
func chunkSQS(msgs []Message, idx []int) [][]int {
	var chunks [][]int
	var cur []int
	size := 0
	for _, i := range idx {
		n := sqsSize(&msgs[i])
		if len(cur) == sqsBatchEntries || (len(cur) > 0 && size+n > sqsBatchBytes) {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, i)
		size += n
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks
}

// sqsSize is a message's size as SQS counts it: body plus attribute names,
// types and values.
func sqsSize(m *Message) int {
	n := len(m.Body) + len(IDAttribute) + len("String") + len(m.ID)
	for k, v := range m.Attributes {
		n += len(k) + len("String") + len(v)
	}
	return n
}

// send makes one SendMessageBatch call and records its failures; it
// reports whether every entry succeeded.
func (p *SQSPublisher) send(ctx context.Context, url string, fifo bool, msgs []Message, idx []int, fail func([]int, error)) bool {
	entries := make([]types.SendMessageBatchRequestEntry, len(idx))
	for n, i := range idx {
		m := &msgs[i]
		e := types.SendMessageBatchRequestEntry{
			Id:          aws.String(strconv.Itoa(n)),
			MessageBody: aws.String(string(m.Body)),
		}
		attrs := make(map[string]types.MessageAttributeValue, len(m.Attributes)+1)
		for k, v := range m.Attributes {
			if v != "" {
				attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
			}
		}
		if len(attrs) < sqsMaxAttrs {
			attrs[IDAttribute] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.ID)}
		}
		e.MessageAttributes = attrs
		if fifo {
			group := string(m.Key)
			if group == "" {
				group = "default"
			}
			e.MessageGroupId = aws.String(group)
			e.MessageDeduplicationId = aws.String(m.ID)
		}
		entries[n] = e
	}
	out, err := p.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	if err != nil {
		fail(idx, fmt.Errorf("outbox: SendMessageBatch to %s: %w", url, err))
		return false
	}
	// Every entry is in Successful or Failed; one in neither has an
	// unknown outcome and is retried like a failure.
	ok := make([]bool, len(idx))
	listed := make([]bool, len(idx))
	for _, s := range out.Successful {
		if n, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && n >= 0 && n < len(idx) {
			ok[n], listed[n] = true, true
		}
	}
	for _, f := range out.Failed {
		n, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || n < 0 || n >= len(idx) {
			continue
		}
		ok[n], listed[n] = false, true
		fail(idx[n:n+1], fmt.Errorf("outbox: SQS refused the message: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	all := true
	for n := range idx {
		if !listed[n] {
			fail(idx[n:n+1], errors.New("outbox: SQS answer did not mention the message"))
		}
		all = all && ok[n]
	}
	return all
}

// queueURL resolves a destination to a queue URL (cached).
func (p *SQSPublisher) queueURL(ctx context.Context, dest string) (string, error) {
	if strings.HasPrefix(dest, "https://") || strings.HasPrefix(dest, "http://") {
		return dest, nil
	}
	p.mu.Lock()
	url, ok := p.urls[dest]
	p.mu.Unlock()
	if ok {
		return url, nil
	}
	out, err := p.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(dest)})
	if err != nil {
		return "", fmt.Errorf("outbox: GetQueueUrl %s: %w", dest, err)
	}
	url = aws.ToString(out.QueueUrl)
	p.mu.Lock()
	p.urls[dest] = url
	p.mu.Unlock()
	return url, nil
}
