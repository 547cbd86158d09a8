package cli

// queue_dlq.go: `sluice dlq peek` and `sluice dlq redrive` (see queue.go
// for the command overview).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
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

// peekedMessage is one message of `dlq peek --json`, whichever way it was
// read.
type peekedMessage struct {
	MessageID  string            `json:"message_id"`
	Body       string            `json:"body"`
	Truncated  bool              `json:"truncated,omitempty"` // the admin API cuts bodies at 4 KiB
	Attributes map[string]string `json:"attributes,omitempty"`
	// System holds the SQS system attributes (only with --via sqs).
	System       map[string]string `json:"system_attributes,omitempty"`
	SentMs       int64             `json:"sent_ms"`
	ReceiveCount int               `json:"receive_count"`
	// SourceQueue is the queue the broker dead-lettered the message from.
	SourceQueue string `json:"source_queue,omitempty"`
	// Diagnostics is the parsed sluice-diagnostics attribute SDK workers
	// attach when they dead-letter; DiagnosticsError says why it did not
	// parse when present but invalid.
	Diagnostics      *sdk.Diagnostics `json:"diagnostics,omitempty"`
	DiagnosticsError string           `json:"diagnostics_error,omitempty"`
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

// peekOptions are the parsed `dlq peek` flags.
type peekOptions struct {
	queue     string // name (the admin API addresses queues by name)
	max       int
	cursor    string
	matchBody string
	matchAttr []string // k=v
	matchErr  string
	olderThan time.Duration
	filter    filter // the same selection, for the SQS path
}

func dlqPeek(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn      sqsFlags
		web       httpFlags
		o         peekOptions
		via       string
		matchAttr stringList
		asJSON    bool
		full      bool
	)
	fs := newFlagSet("dlq peek", "sluice dlq peek NAME [flags]", stderr)
	conn.register(fs)
	web.register(fs)
	fs.StringVar(&via, "via", "auto", "api: the admin API (no receive, no lease); sqs: the SQS API (receives and releases, bumping receive counts); auto: api, or sqs when nothing listens at --http-addr")
	fs.IntVar(&o.max, "max", 10, "show at most this many messages")
	fs.IntVar(&o.max, "limit", 10, "same as --max")
	fs.StringVar(&o.cursor, "cursor", "", "admin API: continue from this cursor (printed after a page that stopped early)")
	fs.StringVar(&o.matchBody, "match-body", "", "show only messages whose body matches this regular expression")
	fs.Var(&matchAttr, "match-attr", "show only messages with message attribute k equal to v (k=v, repeatable)")
	fs.StringVar(&o.matchErr, "match-error", "", "show only messages whose sluice-diagnostics last_error matches this regular expression")
	fs.DurationVar(&o.olderThan, "older-than", 0, "show only messages sent at least this long ago (--via sqs: dead-lettered, as redrive)")
	fs.BoolVar(&full, "full", false, "print whole bodies (default: the first 200 characters)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("cli: dlq peek: want 1 argument(s), got %d", len(pos))
	}
	if o.max < 1 {
		return fmt.Errorf("cli: dlq peek: --max/--limit %d: want at least 1", o.max)
	}
	if o.olderThan < 0 {
		return fmt.Errorf("cli: dlq peek: --older-than %v: want 0 or more", o.olderThan)
	}
	// Validate the filters here so both paths reject the same input.
	if o.matchBody != "" {
		if o.filter.body, err = regexp.Compile(o.matchBody); err != nil {
			return fmt.Errorf("cli: dlq peek: --match-body: %w", err)
		}
	}
	if o.filter.attrs, err = parseKV(matchAttr, "--match-attr"); err != nil {
		return err
	}
	o.matchAttr = matchAttr
	if o.matchErr != "" {
		if o.filter.lastErr, err = regexp.Compile(o.matchErr); err != nil {
			return fmt.Errorf("cli: dlq peek: --match-error: %w", err)
		}
	}
	o.filter.olderThan = o.olderThan
	o.queue = pos[0]
	if strings.Contains(o.queue, "://") {
		o.queue = nameFromURL(o.queue)
	}

	ctx, cancel := context.WithTimeout(ctx, conn.timeout)
	defer cancel()
	var (
		got  []peekedMessage
		next string
	)
	switch via {
	case "api", "auto":
		got, next, err = peekAPI(ctx, &web, o)
		// Fall back only when nothing listens (an HTTP error is a real
		// answer), and not with a --cursor, which only the admin API knows.
		if err != nil && via == "auto" && o.cursor == "" && unreachable(err) {
			fmt.Fprintf(stderr, "note: nothing listens at %s (the broker's HTTP listener); peeking through the SQS API instead, which receives the messages (their receive counts go up)\n", web.base())
			got, err = peekSQS(ctx, &conn, pos[0], o)
		}
	case "sqs":
		if o.cursor != "" {
			return errors.New("cli: dlq peek: --cursor needs the admin API, not --via sqs")
		}
		got, err = peekSQS(ctx, &conn, pos[0], o)
	default:
		return fmt.Errorf("cli: dlq peek: --via %q: want api, sqs or auto", via)
	}
	if err != nil {
		return err
	}
	if asJSON {
		if got == nil {
			got = []peekedMessage{}
		}
		if next != "" {
			fmt.Fprintf(stderr, "more messages: --cursor %s\n", next)
		}
		return writeJSON(stdout, got)
	}
	printPeeked(stdout, o, got, full)
	if next != "" {
		fmt.Fprintf(stdout, "\nMore messages: --cursor %s\n", next)
	}
	return nil
}

// apiPage mirrors GET /api/queues/{name}/messages.
type apiPage struct {
	Messages []struct {
		ID         string `json:"id"`
		Body       string `json:"body"`
		Truncated  bool   `json:"truncated"`
		Attributes map[string]struct {
			Type  string `json:"type"`
			Value string `json:"value"` // Binary: base64
		} `json:"attributes"`
		SentMs           int64            `json:"sent_ms"`
		ReceiveCount     int              `json:"receive_count"`
		SourceQueue      *string          `json:"source_queue"`
		Diagnostics      *sdk.Diagnostics `json:"diagnostics"`
		DiagnosticsError *string          `json:"diagnostics_error"`
	} `json:"messages"`
	NextCursor *string `json:"next_cursor"`
}

// peekAPI pages through the admin API's peek, which reads without leasing
// or counting a receive. next is the cursor to continue from when it stopped
// at o.max with more to read ("" at the end of the queue).
func peekAPI(ctx context.Context, web *httpFlags, o peekOptions) (got []peekedMessage, next string, err error) {
	q := url.Values{}
	if o.matchBody != "" {
		q.Set("match_body", o.matchBody)
	}
	for _, a := range o.matchAttr {
		q.Add("match_attr", a)
	}
	if o.matchErr != "" {
		q.Set("match_error", o.matchErr)
	}
	if o.olderThan > 0 {
		q.Set("older_than_s", strconv.FormatFloat(o.olderThan.Seconds(), 'f', -1, 64))
	}
	path := "/api/queues/" + url.PathEscape(o.queue) + "/messages"
	cursor := o.cursor
	for len(got) < o.max {
		q.Set("limit", strconv.Itoa(min(o.max-len(got), 500)))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		body, err := web.get(ctx, "dlq peek", path, q)
		if err != nil {
			return nil, "", err
		}
		var p apiPage
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, "", fmt.Errorf("cli: dlq peek: unexpected answer from %s: %w", web.base(), err)
		}
		for _, m := range p.Messages {
			pm := peekedMessage{MessageID: m.ID, Body: m.Body, Truncated: m.Truncated, SentMs: m.SentMs,
				ReceiveCount: m.ReceiveCount, Diagnostics: m.Diagnostics}
			if m.SourceQueue != nil {
				pm.SourceQueue = *m.SourceQueue
			}
			if m.DiagnosticsError != nil {
				pm.DiagnosticsError = *m.DiagnosticsError
			}
			for k, a := range m.Attributes {
				if pm.Attributes == nil {
					pm.Attributes = map[string]string{}
				}
				if a.Type == "Binary" || strings.HasPrefix(a.Type, "Binary.") {
					n := base64.StdEncoding.DecodedLen(len(a.Value)) // an upper bound if it does not decode
					if raw, err := base64.StdEncoding.DecodeString(a.Value); err == nil {
						n = len(raw)
					}
					pm.Attributes[k] = fmt.Sprintf("<%s, %d bytes>", a.Type, n)
				} else {
					pm.Attributes[k] = a.Value
				}
			}
			if len(got) < o.max {
				got = append(got, pm)
			}
		}
		if p.NextCursor == nil || *p.NextCursor == "" {
			return got, "", nil
		}
		cursor = *p.NextCursor
	}
	return got, cursor, nil
}

// peekSQS peeks through the SQS API: it receives messages (holding them
// invisible for the scan) and makes them visible again, which counts a
// receive each — the only way on Amazon SQS or a broker without the HTTP
// listener.
func peekSQS(ctx context.Context, conn *sqsFlags, nameOrURL string, o peekOptions) ([]peekedMessage, error) {
	cl, err := conn.client()
	if err != nil {
		return nil, err
	}
	u, err := resolveQueue(ctx, cl, nameOrURL)
	if err != nil {
		return nil, err
	}
	sc := newScanner(cl, u)
	var got []peekedMessage
	var scanErr error
	for len(got) < o.max {
		msgs, err := sc.next(ctx)
		if err != nil {
			scanErr = err
			break
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if len(got) < o.max && o.filter.match(m) {
				got = append(got, sqsPeeked(m))
			}
		}
	}
	// Put everything back, whatever happened.
	if err := sc.release(context.WithoutCancel(ctx)); err != nil && scanErr == nil {
		scanErr = err
	}
	return got, scanErr
}

func sqsPeeked(m types.Message) peekedMessage {
	pm := peekedMessage{MessageID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body),
		Attributes: attrStrings(m.MessageAttributes), System: m.Attributes}
	pm.SentMs, _ = strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64)
	pm.ReceiveCount, _ = strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if src := m.Attributes["DeadLetterQueueSourceArn"]; src != "" {
		pm.SourceQueue = nameFromURL(src)
	}
	if raw, ok := pm.Attributes[sdk.DiagnosticsAttribute]; ok {
		var d sdk.Diagnostics
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			pm.DiagnosticsError = "invalid " + sdk.DiagnosticsAttribute + " attribute: " + err.Error()
		} else {
			pm.Diagnostics = &d
		}
	}
	return pm
}

func printPeeked(w io.Writer, o peekOptions, got []peekedMessage, full bool) {
	if len(got) == 0 {
		if o.filter.empty() {
			fmt.Fprintf(w, "Queue %s has no messages to show.\n", o.queue)
		} else {
			fmt.Fprintf(w, "No message in %s matches.\n", o.queue)
		}
		return
	}
	for i, m := range got {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "message %s  receives %d  sent %s\n", m.MessageID, m.ReceiveCount, msTime(strconv.FormatInt(m.SentMs, 10)))
		if m.SourceQueue != "" {
			fmt.Fprintf(w, "  from %s\n", m.SourceQueue)
		}
		switch d := m.Diagnostics; {
		case d != nil:
			fmt.Fprintf(w, "  last error: %s\n", d.LastError)
			fmt.Fprintf(w, "  attempts %d, source %s", d.Attempts, d.Source)
			if !d.LastAttempt.IsZero() {
				fmt.Fprintf(w, ", last attempt %s", d.LastAttempt.UTC().Format(time.RFC3339))
			}
			if d.WorkerID != "" {
				fmt.Fprintf(w, ", worker %s", d.WorkerID)
			}
			fmt.Fprintln(w)
		case m.DiagnosticsError != "":
			fmt.Fprintf(w, "  diagnostics: %s\n", m.DiagnosticsError)
		}
		for _, k := range sortedKeys(m.Attributes) {
			if k == sdk.DiagnosticsAttribute && m.Diagnostics != nil {
				continue // shown parsed above
			}
			fmt.Fprintf(w, "  %s = %s\n", k, m.Attributes[k])
		}
		body := m.Body
		if !full && len(body) > 200 {
			body = body[:200] + "…"
		} else if m.Truncated {
			body += "… (cut by the admin API)"
		}
		fmt.Fprintf(w, "  %s\n", body)
	}
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
