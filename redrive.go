package sluice

// redrive.go: moving dead-lettered SQS messages back to work, all of them or those matching a
// filter, with a dry run and a rate limit. The same filters back `sluice dlq redrive`.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/time/rate"
)

// RedriveConfig configures Redrive. From and one of Client or Endpoint are required; a message
// moves when it matches every filter that is set.
type RedriveConfig struct {
	// Client is the SQS client; when nil one is made from Endpoint and Region (as for
	// SQSSourceConfig).
	Client           *sqs.Client
	Endpoint, Region string
	// From is the dead-letter queue's URL. Required.
	From string
	// To is the destination queue's URL. Default: each message's source queue — the Source of
	// its diagnostics (dead-lettered by a Worker), else the queue named by its
	// DeadLetterQueueSourceArn (moved by the queue's RedrivePolicy).
	To string
	// MatchError selects messages whose diagnostics' LastError matches. Messages without
	// diagnostics never match it.
	MatchError *regexp.Regexp
	// MatchBody selects messages whose body matches.
	MatchBody *regexp.Regexp
	// MatchAttributes selects messages having each attribute with exactly this value.
	MatchAttributes map[string]string
	// OlderThan selects messages dead-lettered at least this long ago: the diagnostics'
	// LastAttempt, else the message's SentTimestamp.
	OlderThan time.Duration
	// DryRun counts what would move and moves nothing.
	DryRun bool
	// RatePerSecond caps the moves per second (0: no limit).
	RatePerSecond float64
	// Max stops after moving (in a dry run: matching) this many messages (0: no limit).
	Max int
	// ScanVisibility is how long scanned messages stay invisible while the scan runs (default
	// 5m); non-matching ones are made visible again at the end.
	ScanVisibility time.Duration
	// Logger receives progress reports (default slog.Default()).
	Logger *slog.Logger
}

// RedriveResult counts what a Redrive did.
type RedriveResult struct {
	Scanned int // distinct messages looked at
	Matched int // of those, matching the filters
	Moved   int // of those, moved (0 in a dry run)
}

// Redrive moves the messages of a dead-letter queue that match cfg's filters to their
// destination. Each move is send-then-delete, so a crash leaves a duplicate, never a loss. The
// moved copy carries the original body and attributes without the diagnostics attribute:
// diagnostics describe a failure that the redrive means to put behind; attributes that were
// folded into the diagnostics for lack of room are restored. Non-matching messages are made
// visible again when the scan ends. The result is valid also when an error is returned.
func Redrive(ctx context.Context, cfg RedriveConfig) (RedriveResult, error) {
	var res RedriveResult
	if cfg.From == "" {
		return res, errors.New("sluice: RedriveConfig.From is required")
	}
	if cfg.RatePerSecond < 0 || cfg.Max < 0 || cfg.OlderThan < 0 || cfg.ScanVisibility < 0 {
		return res, errors.New("sluice: RedriveConfig: RatePerSecond, Max, OlderThan and ScanVisibility must not be negative")
	}
	if cfg.ScanVisibility == 0 {
		cfg.ScanVisibility = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cl := cfg.Client
	if cl == nil {
		var hc *http.Client
		var err error
		if cl, hc, err = newSQSClient(cfg.Endpoint, cfg.Region); err != nil {
			return res, err
		}
		defer hc.CloseIdleConnections()
	}
	r := &redriver{cfg: cfg, cl: cl, seen: map[string]bool{}, held: map[string]string{}, urls: map[string]string{}}
	if cfg.RatePerSecond > 0 {
		r.lim = rate.NewLimiter(rate.Limit(cfg.RatePerSecond), 1)
	}
	err := r.run(ctx, &res)
	if rerr := r.releaseHeld(context.WithoutCancel(ctx)); rerr != nil && err == nil {
		err = rerr
	}
	cfg.Logger.Info("sluice: redrive done", "from", queueNameOf(cfg.From), "scanned", res.Scanned,
		"matched", res.Matched, "moved", res.Moved, "dry_run", cfg.DryRun)
	return res, err
}

type redriver struct {
	cfg  RedriveConfig
	cl   *sqs.Client
	lim  *rate.Limiter
	seen map[string]bool   // message ids already looked at
	held map[string]string // id -> receipt of messages to make visible again
	urls map[string]string // queue name -> URL
}

func (r *redriver) run(ctx context.Context, res *RedriveResult) error {
	for {
		msgs, err := r.next(ctx)
		if err != nil || len(msgs) == 0 {
			return err
		}
		for _, m := range msgs {
			res.Scanned++
			id := aws.ToString(m.MessageId)
			attrs, diag, hasDiag := splitDiagnostics(m.MessageAttributes)
			if !r.match(m, attrs, diag, hasDiag) {
				continue
			}
			res.Matched++
			if !r.cfg.DryRun {
				if r.lim != nil {
					if err := r.lim.Wait(ctx); err != nil {
						return err
					}
				}
				if err := r.move(ctx, m, attrs, diag, hasDiag); err != nil {
					return err
				}
				delete(r.held, id)
				res.Moved++
			}
			if r.cfg.Max > 0 && ((r.cfg.DryRun && res.Matched >= r.cfg.Max) || res.Moved >= r.cfg.Max) {
				return nil
			}
		}
	}
}

// next receives the next messages not seen before; none when the queue has no more to give.
// Receives start as short polls; an empty answer is confirmed by the queue's visible count
// (Amazon SQS's short polls sample only some servers), and retried as a 1s long poll if the
// queue still reports visible messages.
func (r *redriver) next(ctx context.Context) ([]types.Message, error) {
	var wait int32
	for range 4 {
		out, err := r.cl.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(r.cfg.From), MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
			VisibilityTimeout:           visibilitySeconds(r.cfg.ScanVisibility),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, fmt.Errorf("sluice: redrive: receive from %s: %w", queueNameOf(r.cfg.From), err)
		}
		wait = 1
		if len(out.Messages) == 0 {
			visible, err := r.visible(ctx)
			if err != nil || visible == 0 {
				return nil, err
			}
			continue
		}
		var fresh []types.Message
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			r.held[id] = aws.ToString(m.ReceiptHandle)
			if !r.seen[id] {
				r.seen[id] = true
				fresh = append(fresh, m)
			}
		}
		if len(fresh) > 0 {
			return fresh, nil
		}
		// Only messages seen before: the scan outlived ScanVisibility. Ask again.
	}
	return nil, nil
}

func (r *redriver) visible(ctx context.Context) (int64, error) {
	out, err := r.cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(r.cfg.From),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, fmt.Errorf("sluice: redrive: queue attributes of %s: %w", queueNameOf(r.cfg.From), err)
	}
	n, _ := strconv.ParseInt(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
	return n, nil
}

// splitDiagnostics separates the diagnostics attribute from the others and restores the
// attributes folded into it.
func splitDiagnostics(in map[string]types.MessageAttributeValue) (map[string]types.MessageAttributeValue, sqsDiagnostics, bool) {
	var d sqsDiagnostics
	raw, ok := in[DiagnosticsAttribute]
	ok = ok && raw.StringValue != nil && json.Unmarshal([]byte(*raw.StringValue), &d) == nil
	out := make(map[string]types.MessageAttributeValue, len(in))
	for k, v := range in {
		if k != DiagnosticsAttribute || !ok {
			out[k] = v
		}
	}
	return out, d, ok
}

// match applies the filters.
func (r *redriver) match(m types.Message, attrs map[string]types.MessageAttributeValue, d sqsDiagnostics, hasDiag bool) bool {
	c := r.cfg
	if c.MatchError != nil && (!hasDiag || !c.MatchError.MatchString(d.LastError)) {
		return false
	}
	if c.MatchBody != nil && !c.MatchBody.MatchString(aws.ToString(m.Body)) {
		return false
	}
	for k, want := range c.MatchAttributes {
		v, ok := attrs[k]
		got, okx := d.ExtraAttributes[k]
		switch {
		case ok && v.StringValue != nil && *v.StringValue == want:
		case !ok && okx && got == want:
		default:
			return false
		}
	}
	if c.OlderThan > 0 {
		at := d.LastAttempt
		if !hasDiag || at.IsZero() {
			at = msAttr(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)])
		}
		if at.IsZero() || time.Since(at) < c.OlderThan {
			return false
		}
	}
	return true
}

// move sends a copy of m to its destination and deletes it from the DLQ.
func (r *redriver) move(ctx context.Context, m types.Message, attrs map[string]types.MessageAttributeValue, d sqsDiagnostics, hasDiag bool) error {
	dest, err := r.destination(ctx, m, d, hasDiag)
	if err != nil {
		return err
	}
	if hasDiag && len(d.ExtraAttributes) > 0 {
		names := make([]string, 0, len(d.ExtraAttributes))
		for k := range d.ExtraAttributes {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if len(attrs) >= 10 { // cannot happen for messages dead-lettered by a Worker
				break
			}
			if _, dup := attrs[k]; !dup {
				attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(d.ExtraAttributes[k])}
			}
		}
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(dest), MessageBody: m.Body}
	if len(attrs) > 0 {
		in.MessageAttributes = attrs
	}
	if strings.HasSuffix(dest, ".fifo") {
		g := m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
		if g == "" {
			g = "redrive"
		}
		dd := m.Attributes[string(types.MessageSystemAttributeNameMessageDeduplicationId)]
		if dd == "" {
			dd = aws.ToString(m.MessageId)
		}
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(g), aws.String(dd)
	}
	if _, err := r.cl.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sluice: redrive: send to %s: %w", queueNameOf(dest), err)
	}
	if _, err := r.cl.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.cfg.From), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return fmt.Errorf("sluice: redrive: delete from %s: %w", queueNameOf(r.cfg.From), err)
	}
	return nil
}

// destination is cfg.To, or the queue the message came from.
func (r *redriver) destination(ctx context.Context, m types.Message, d sqsDiagnostics, hasDiag bool) (string, error) {
	if r.cfg.To != "" {
		return r.cfg.To, nil
	}
	name := ""
	if hasDiag {
		name = d.Source
	}
	if name == "" {
		name = queueNameOf(m.Attributes["DeadLetterQueueSourceArn"]) // arn:aws:sqs:region:account:name
		if i := strings.LastIndexByte(name, ':'); i >= 0 {
			name = name[i+1:]
		}
	}
	if name == "" {
		return "", fmt.Errorf("sluice: redrive: message %s does not say which queue it came from; set RedriveConfig.To", aws.ToString(m.MessageId))
	}
	if u, ok := r.urls[name]; ok {
		return u, nil
	}
	out, err := r.cl.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("sluice: redrive: source queue %q of message %s: %w", name, aws.ToString(m.MessageId), err)
	}
	r.urls[name] = aws.ToString(out.QueueUrl)
	return r.urls[name], nil
}

// releaseHeld makes every message looked at and not moved visible again.
func (r *redriver) releaseHeld(ctx context.Context) error {
	receipts := make([]string, 0, len(r.held))
	for _, h := range r.held {
		receipts = append(receipts, h)
	}
	r.held = map[string]string{}
	var errs []error
	for len(receipts) > 0 {
		n := min(len(receipts), 10)
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, h := range receipts[:n] {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)}
		}
		receipts = receipts[n:]
		out, err := r.cl.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(r.cfg.From), Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("sluice: redrive: release: %w", err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("sluice: redrive: release: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}
