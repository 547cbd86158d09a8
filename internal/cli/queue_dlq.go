package cli

// queue_dlq.go: `sluice dlq peek` and `sluice dlq redrive` (see queue.go
// for the command overview).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	sdk "github.com/sluice-mq/sluice"
)

// scanHold is how long a scan keeps received messages invisible; a scan
// longer than this sees messages again and recognises them by id.
const scanHold = 300

// scanner receives every message of a queue once, holding them invisible.
type scanner struct {
	cl   *sqs.Client
	url  string
	seen map[string]bool
	held map[string]string // message id -> latest receipt handle, to release
}

func newScanner(cl *sqs.Client, url string) *scanner {
	return &scanner{cl: cl, url: url, seen: map[string]bool{}, held: map[string]string{}}
}

// next returns the next batch of messages not seen before; none when the
// queue has nothing more to hand out.
func (s *scanner) next(ctx context.Context) ([]types.Message, error) {
	for range 3 { // a batch of only already-seen messages: try again
		out, err := s.cl.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(s.url),
			MaxNumberOfMessages:         10,
			VisibilityTimeout:           scanHold,
			WaitTimeSeconds:             1,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, sqsErr("receive", err)
		}
		if len(out.Messages) == 0 {
			return nil, nil
		}
		var fresh []types.Message
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			s.held[id] = aws.ToString(m.ReceiptHandle)
			if !s.seen[id] {
				s.seen[id] = true
				fresh = append(fresh, m)
			}
		}
		if len(fresh) > 0 {
			return fresh, nil
		}
	}
	return nil, nil
}

// done forgets a message that left the queue.
func (s *scanner) done(id string) { delete(s.held, id) }

// release makes every held message visible again.
func (s *scanner) release(ctx context.Context) error {
	var entries []types.ChangeMessageVisibilityBatchRequestEntry
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		_, err := s.cl.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(s.url), Entries: entries})
		entries = entries[:0]
		if err != nil {
			return sqsErr("release messages", err)
		}
		return nil
	}
	i := 0
	for _, h := range s.held {
		entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String("m" + strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0})
		i++
		if len(entries) == 10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	s.held = map[string]string{}
	return flush()
}

// peekedMessage is one message of `dlq peek --json`.
type peekedMessage struct {
	MessageID  string            `json:"message_id"`
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes,omitempty"`
	System     map[string]string `json:"system_attributes,omitempty"`
}

func attrStrings(m map[string]types.MessageAttributeValue) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v.StringValue != nil {
			out[k] = *v.StringValue
		} else {
			out[k] = fmt.Sprintf("<%s, %d bytes>", aws.ToString(v.DataType), len(v.BinaryValue))
		}
	}
	return out
}

func dlqPeek(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn   sqsFlags
		max    int
		asJSON bool
		full   bool
	)
	fs := newFlagSet("dlq peek", "sluice dlq peek NAME [flags]", stderr)
	conn.register(fs)
	fs.IntVar(&max, "max", 10, "show at most this many messages")
	fs.BoolVar(&full, "full", false, "print whole bodies (default: the first 200 characters)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 1, "dlq peek")
	if err != nil {
		return err
	}
	defer cancel()
	if max < 1 {
		return fmt.Errorf("cli: dlq peek: --max %d: want at least 1", max)
	}
	u, err := resolveQueue(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	sc := newScanner(cl, u)
	var got []peekedMessage
	var scanErr error
	for len(got) < max {
		msgs, err := sc.next(ctx)
		if err != nil {
			scanErr = err
			break
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if len(got) < max {
				got = append(got, peekedMessage{MessageID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: attrStrings(m.MessageAttributes), System: m.Attributes})
			}
		}
	}
	// Put everything back, whatever happened.
	if err := sc.release(context.WithoutCancel(ctx)); err != nil && scanErr == nil {
		scanErr = err
	}
	if scanErr != nil {
		return scanErr
	}
	if asJSON {
		if got == nil {
			got = []peekedMessage{}
		}
		return writeJSON(stdout, got)
	}
	if len(got) == 0 {
		fmt.Fprintf(stdout, "Queue %s has no visible messages.\n", nameFromURL(u))
		return nil
	}
	for i, m := range got {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "message %s  receives %s  sent %s\n", m.MessageID, m.System["ApproximateReceiveCount"], msTime(m.System["SentTimestamp"]))
		if src := m.System["DeadLetterQueueSourceArn"]; src != "" {
			fmt.Fprintf(stdout, "  from %s\n", nameFromURL(src))
		}
		for _, k := range sortedKeys(m.Attributes) {
			fmt.Fprintf(stdout, "  %s = %s\n", k, m.Attributes[k])
		}
		body := m.Body
		if !full && len(body) > 200 {
			body = body[:200] + "…"
		}
		fmt.Fprintf(stdout, "  %s\n", body)
	}
	return nil
}

func msTime(ms string) string {
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return ms
	}
	return time.UnixMilli(n).UTC().Format(time.RFC3339)
}

// filter is the redrive selection: all conditions must hold.
type filter struct {
	body  *regexp.Regexp
	attrs map[string]string
	// lastErr matches the last_error of the sluice-diagnostics attribute that SDK workers attach
	// when they dead-letter; messages without diagnostics never match it.
	lastErr *regexp.Regexp
	// olderThan: dead-lettered at least this long ago — the diagnostics' last_attempt, else
	// the message's SentTimestamp.
	olderThan time.Duration
}

func (f filter) empty() bool {
	return f.body == nil && len(f.attrs) == 0 && f.lastErr == nil && f.olderThan == 0
}

func (f filter) match(m types.Message) bool {
	if f.body != nil && !f.body.MatchString(aws.ToString(m.Body)) {
		return false
	}
	for k, want := range f.attrs {
		v, ok := m.MessageAttributes[k]
		if !ok || aws.ToString(v.StringValue) != want {
			return false
		}
	}
	if f.lastErr == nil && f.olderThan == 0 {
		return true
	}
	var d sdk.Diagnostics
	hasDiag := false
	if v, ok := m.MessageAttributes[sdk.DiagnosticsAttribute]; ok && v.StringValue != nil {
		d, hasDiag = sdk.DiagnosticsOf(&sdk.Message{Attributes: map[string]string{sdk.DiagnosticsAttribute: *v.StringValue}})
	}
	if f.lastErr != nil && (!hasDiag || !f.lastErr.MatchString(d.LastError)) {
		return false
	}
	if f.olderThan > 0 {
		at := d.LastAttempt
		if at.IsZero() {
			if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
				at = time.UnixMilli(ms)
			}
		}
		if at.IsZero() || time.Since(at) < f.olderThan {
			return false
		}
	}
	return true
}

func dlqRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn      sqsFlags
		to        string
		matchBody string
		matchAttr stringList
		matchErr  string
		olderThan time.Duration
		dryRun    bool
		rate      int
		noWait    bool
	)
	fs := newFlagSet("dlq redrive", "sluice dlq redrive NAME [flags]", stderr)
	conn.register(fs)
	fs.StringVar(&to, "to", "", "destination queue (default: each message's source queue)")
	fs.StringVar(&matchBody, "match-body", "", "move only messages whose body matches this regular expression")
	fs.Var(&matchAttr, "match-attr", "move only messages with message attribute k equal to v (k=v, repeatable)")
	fs.StringVar(&matchErr, "match-error", "", "move only messages whose sluice-diagnostics last_error matches this regular expression")
	fs.DurationVar(&olderThan, "older-than", 0, "move only messages dead-lettered at least this long ago (e.g. 1h)")
	fs.BoolVar(&dryRun, "dry-run", false, "count what would move; move nothing")
	fs.IntVar(&rate, "rate", 0, "move at most this many messages per second (0: no limit; a move task allows 1-500)")
	fs.BoolVar(&noWait, "no-wait", false, "start the move task and return without following it")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cli: dlq redrive: want exactly one queue")
	}
	if rate < 0 {
		return fmt.Errorf("cli: dlq redrive: --rate %d: want 0 or more", rate)
	}
	var f filter
	if matchBody != "" {
		if f.body, err = regexp.Compile(matchBody); err != nil {
			return fmt.Errorf("cli: dlq redrive: --match-body: %w", err)
		}
	}
	if f.attrs, err = parseKV(matchAttr, "--match-attr"); err != nil {
		return err
	}
	if matchErr != "" {
		if f.lastErr, err = regexp.Compile(matchErr); err != nil {
			return fmt.Errorf("cli: dlq redrive: --match-error: %w", err)
		}
	}
	if olderThan < 0 {
		return fmt.Errorf("cli: dlq redrive: --older-than %v: want 0 or more", olderThan)
	}
	f.olderThan = olderThan
	cl, err := conn.client()
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, conn.timeout)
	defer cancel()
	src, err := resolveQueue(actx, cl, pos[0])
	if err != nil {
		return err
	}
	var dest string
	if to != "" {
		if dest, err = resolveQueue(actx, cl, to); err != nil {
			return err
		}
	}
	if f.empty() && !dryRun {
		return startMoveTask(ctx, cl, conn.timeout, src, dest, rate, noWait, stdout)
	}
	if f.empty() {
		r, err := depthOf(actx, cl, src)
		if err != nil {
			return sqsErr("dlq redrive", err)
		}
		fmt.Fprintf(stdout, "Dry run: %s messages would move from %s (%s more in flight).\n", formatCount(r.Visible), r.Name, formatCount(r.InFlight))
		return nil
	}
	return filteredRedrive(ctx, cl, src, dest, f, dryRun, rate, stdout)
}

// startMoveTask redrives a whole DLQ with a message move task and follows
// it until it ends.
func startMoveTask(ctx context.Context, cl *sqs.Client, timeout time.Duration, src, dest string, rate int, noWait bool, stdout io.Writer) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	srcARN, err := queueARN(actx, cl, src)
	if err != nil {
		return err
	}
	in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(srcARN)}
	if dest != "" {
		if in.DestinationArn, err = pointerTo(queueARN(actx, cl, dest)); err != nil {
			return err
		}
	}
	if rate > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(min(rate, 1<<30)))
	}
	out, err := cl.StartMessageMoveTask(actx, in)
	if err != nil {
		return sqsErr("dlq redrive", err)
	}
	fmt.Fprintf(stdout, "Started a move task from %s (handle %s).\n", nameFromURL(src), aws.ToString(out.TaskHandle))
	if noWait {
		return nil
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		lctx, lcancel := context.WithTimeout(ctx, timeout)
		res, err := cl.ListMessageMoveTasks(lctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(srcARN), MaxResults: aws.Int32(1)})
		lcancel()
		if err != nil {
			return sqsErr("dlq redrive", err)
		}
		if len(res.Results) == 0 {
			continue
		}
		t := res.Results[0]
		switch aws.ToString(t.Status) {
		case "RUNNING", "CANCELLING":
			continue
		case "COMPLETED":
			fmt.Fprintf(stdout, "Moved %s messages.\n", formatCount(t.ApproximateNumberOfMessagesMoved))
			return nil
		default:
			return fmt.Errorf("cli: dlq redrive: move task %s after %s messages: %s", aws.ToString(t.Status), formatCount(t.ApproximateNumberOfMessagesMoved), aws.ToString(t.FailureReason))
		}
	}
}

func pointerTo(s string, err error) (*string, error) { return &s, err }

// filteredRedrive scans the DLQ and moves the matching messages.
func filteredRedrive(ctx context.Context, cl *sqs.Client, src, dest string, f filter, dryRun bool, rate int, stdout io.Writer) error {
	sc := newScanner(cl, src)
	var sources []string // the DLQ's source queues, looked up once if needed
	var scanned, matched, moved int
	var last time.Time
	destFor := func(m types.Message) (string, error) {
		if dest != "" {
			return dest, nil
		}
		if arn := m.Attributes["DeadLetterQueueSourceArn"]; arn != "" {
			return resolveQueue(ctx, cl, nameFromURL(arn))
		}
		if sources == nil {
			out, err := cl.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(src)})
			if err != nil {
				return "", sqsErr("dlq redrive", err)
			}
			sources = append([]string{}, out.QueueUrls...)
		}
		if len(sources) == 1 {
			return sources[0], nil
		}
		return "", fmt.Errorf("cli: dlq redrive: cannot tell which queue message %s came from (the DLQ has %d sources); give --to", aws.ToString(m.MessageId), len(sources))
	}
	run := func() error {
		for {
			msgs, err := sc.next(ctx)
			if err != nil || len(msgs) == 0 {
				return err
			}
			scanned += len(msgs)
			for _, m := range msgs {
				if !f.match(m) {
					continue
				}
				matched++
				if dryRun {
					continue
				}
				d, err := destFor(m)
				if err != nil {
					return err
				}
				if rate > 0 {
					if wait := time.Second/time.Duration(rate) - time.Since(last); wait > 0 {
						select {
						case <-ctx.Done():
							return ctx.Err()
						case <-time.After(wait):
						}
					}
					last = time.Now()
				}
				if err := moveMessage(ctx, cl, src, d, m); err != nil {
					return err
				}
				sc.done(aws.ToString(m.MessageId))
				moved++
			}
		}
	}
	err := run()
	if rerr := sc.release(context.WithoutCancel(ctx)); rerr != nil && err == nil {
		err = rerr
	}
	if dryRun {
		fmt.Fprintf(stdout, "Dry run: %d of %d messages scanned in %s match and would move.\n", matched, scanned, nameFromURL(src))
	} else {
		fmt.Fprintf(stdout, "Moved %d of %d messages scanned in %s (%d matched).\n", moved, scanned, nameFromURL(src), matched)
	}
	return err
}

// moveMessage sends a copy of m to dest, then deletes it from src: a crash
// in between leaves a duplicate, never a loss.
func moveMessage(ctx context.Context, cl *sqs.Client, src, dest string, m types.Message) error {
	in := &sqs.SendMessageInput{QueueUrl: aws.String(dest), MessageBody: m.Body}
	if len(m.MessageAttributes) > 0 {
		in.MessageAttributes = m.MessageAttributes
	}
	if th := m.Attributes["AWSTraceHeader"]; th != "" {
		in.MessageSystemAttributes = map[string]types.MessageSystemAttributeValue{"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String(th)}}
	}
	if strings.HasSuffix(dest, ".fifo") {
		g := m.Attributes["MessageGroupId"]
		if g == "" {
			g = "redrive"
		}
		d := m.Attributes["MessageDeduplicationId"]
		if d == "" {
			d = aws.ToString(m.MessageId)
		}
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(g), aws.String(d)
	}
	if _, err := cl.SendMessage(ctx, in); err != nil {
		return sqsErr("redrive to "+nameFromURL(dest), err)
	}
	if _, err := cl.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(src), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return sqsErr("delete from "+nameFromURL(src), err)
	}
	return nil
}
