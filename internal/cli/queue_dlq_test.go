package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	sdk "github.com/sluice-mq/sluice"
)

// sendDiagnosed puts a message straight into a DLQ with the sluice-diagnostics attribute an SDK
// worker attaches when it dead-letters (or without one when lastErr is "").
func sendDiagnosed(t *testing.T, c *sqs.Client, u, body, lastErr string, lastAttempt time.Time) {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String(body)}
	if lastErr != "" {
		raw, err := json.Marshal(sdk.Diagnostics{Source: "work", Attempts: 3, LastError: lastErr,
			FirstAttempt: lastAttempt.Add(-time.Minute), LastAttempt: lastAttempt, WorkerID: "test/1", WorkerVersion: "v0"})
		if err != nil {
			t.Fatal(err)
		}
		in.MessageAttributes = map[string]types.MessageAttributeValue{
			sdk.DiagnosticsAttribute: {DataType: aws.String("String"), StringValue: aws.String(string(raw))}}
	}
	if _, err := c.SendMessage(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// bodiesIn drains u and returns the sorted bodies it held.
func bodiesIn(t *testing.T, c *sqs.Client, u string) []string {
	t.Helper()
	var got []string
	for {
		r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			got = append(got, aws.ToString(m.Body))
		}
	}
	sort.Strings(got)
	return got
}

// TestDLQRedriveDiagnosticsFilters checks --match-error (on the diagnostics' last_error) and
// --older-than (on the diagnostics' last_attempt, else the send time): only matching messages
// move, a dry run moves none, and messages without diagnostics never match --match-error.
func TestDLQRedriveDiagnosticsFilters(t *testing.T) {
	ep := startSQSBroker(t)
	sqsCLI(t, ep, false, "queue", "create", "work")
	sqsCLI(t, ep, false, "queue", "create", "work-dlq")
	c := sqsClient(t, ep)
	work, dlq := ep+"/000000000000/work", ep+"/000000000000/work-dlq"

	now := time.Now()
	sendDiagnosed(t, c, dlq, "timeout-old", "smtp: i/o timeout", now.Add(-2*time.Hour))
	sendDiagnosed(t, c, dlq, "timeout-new", "smtp: i/o timeout", now)
	sendDiagnosed(t, c, dlq, "invalid-old", "invalid address", now.Add(-2*time.Hour))
	sendDiagnosed(t, c, dlq, "refused-new", "dial: connection refused", now)
	sendDiagnosed(t, c, dlq, "no-diagnostics", "", time.Time{}) // sent just now
	// A message whose last_error mentions "timeout" only in the body must not match.
	sendDiagnosed(t, c, dlq, "body says timeout", "parse error", now)

	// Dry runs count and move nothing.
	out := sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--to", "work", "--match-error", `timeout|refused`, "--dry-run")
	if !strings.Contains(out, "Dry run: 3 of 6 messages scanned in work-dlq match") {
		t.Fatalf("--match-error dry run: %s", out)
	}
	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--to", "work", "--older-than", "1h", "--dry-run")
	if !strings.Contains(out, "Dry run: 2 of 6 messages scanned in work-dlq match") {
		t.Fatalf("--older-than dry run: %s", out)
	}
	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--to", "work", "--match-error", "timeout", "--older-than", "1h", "--dry-run")
	if !strings.Contains(out, "Dry run: 1 of 6 messages scanned in work-dlq match") {
		t.Fatalf("combined dry run: %s", out)
	}
	if n := attr(t, c, work, "ApproximateNumberOfMessages"); n != "0" {
		t.Fatalf("a dry run moved messages: work holds %s", n)
	}
	if n := attr(t, c, dlq, "ApproximateNumberOfMessages"); n != "6" {
		t.Fatalf("after the dry runs the DLQ shows %s visible", n)
	}

	// Both filters together: only the old timeout moves.
	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--to", "work", "--match-error", "timeout", "--older-than", "1h")
	if !strings.Contains(out, "Moved 1 of 6 messages scanned in work-dlq (1 matched)") {
		t.Fatalf("combined redrive: %s", out)
	}
	// Then --match-error alone: the other timeout and the refused one.
	out = sqsCLI(t, ep, false, "dlq", "redrive", "work-dlq", "--to", "work", "--match-error", `timeout|refused`)
	if !strings.Contains(out, "Moved 2 of 5 messages scanned in work-dlq (2 matched)") {
		t.Fatalf("--match-error redrive: %s", out)
	}
	if got := strings.Join(bodiesIn(t, c, work), ","); got != "refused-new,timeout-new,timeout-old" {
		t.Fatalf("work holds %s", got)
	}
	if got := strings.Join(bodiesIn(t, c, dlq), ","); got != "body says timeout,invalid-old,no-diagnostics" {
		t.Fatalf("the DLQ holds %s", got)
	}

	if errOut := sqsCLI(t, ep, true, "dlq", "redrive", "work-dlq", "--match-error", "("); !strings.Contains(errOut, "--match-error") {
		t.Fatalf("bad --match-error: %s", errOut)
	}
	if errOut := sqsCLI(t, ep, true, "dlq", "redrive", "work-dlq", "--older-than", "-1h"); !strings.Contains(errOut, "--older-than") {
		t.Fatalf("negative --older-than: %s", errOut)
	}
}

// TestDLQPeekAdminAPI checks `dlq peek` through the admin API: diagnostics are shown, the
// filters and --limit/--cursor paging work, peeking counts no receive (a later SQS receive sees
// the first one), the SQS path is taken only when nothing listens at --http-addr, and an HTTP
// error is reported rather than hidden by that fallback.
func TestDLQPeekAdminAPI(t *testing.T) {
	ep := startSQSBroker(t)
	sqsCLI(t, ep, false, "queue", "create", "work-dlq")
	c := sqsClient(t, ep)
	dlq := ep + "/000000000000/work-dlq"
	now := time.Now()
	sendDiagnosed(t, c, dlq, "timeout-old", "smtp: i/o timeout", now.Add(-2*time.Hour))
	sendDiagnosed(t, c, dlq, "invalid-new", "invalid address", now)
	sendDiagnosed(t, c, dlq, "refused-new", "dial: connection refused", now)
	sendDiagnosed(t, c, dlq, "no-diagnostics", "", time.Time{})

	out := sqsCLI(t, ep, false, "dlq", "peek", "work-dlq", "--match-error", "timeout|refused")
	for _, want := range []string{"timeout-old", "refused-new", "last error: smtp: i/o timeout", "attempts 3, source work", "receives 0"} {
		if !strings.Contains(out, want) {
			t.Fatalf("peek --match-error: missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "invalid-new") || strings.Contains(out, "no-diagnostics") || strings.Contains(out, sdk.DiagnosticsAttribute+" = ") {
		t.Fatalf("peek --match-error shows too much:\n%s", out)
	}
	if out := sqsCLI(t, ep, false, "dlq", "peek", "work-dlq", "--match-body", "^(no|inv)"); !strings.Contains(out, "no-diagnostics") || !strings.Contains(out, "invalid-new") || strings.Contains(out, "timeout-old") {
		t.Fatalf("peek --match-body:\n%s", out)
	}
	if out := sqsCLI(t, ep, false, "dlq", "peek", "work-dlq", "--match-error", "nothing"); !strings.Contains(out, "No message in work-dlq matches") {
		t.Fatalf("peek matching nothing:\n%s", out)
	}

	// Paging: two at a time, continuing from the printed cursor, covers all four once.
	var seen []string
	var cursorArgs []string
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatalf("paging does not end: %v", seen)
		}
		out := sqsCLI(t, ep, false, append([]string{"dlq", "peek", "work-dlq", "--limit", "2"}, cursorArgs...)...)
		for _, b := range []string{"timeout-old", "invalid-new", "refused-new", "no-diagnostics"} {
			if strings.Contains(out, "  "+b+"\n") {
				seen = append(seen, b)
			}
		}
		_, cur, more := strings.Cut(out, "More messages: --cursor ")
		if !more {
			break
		}
		cursorArgs = []string{"--cursor", strings.TrimSpace(cur)}
	}
	if sort.Strings(seen); strings.Join(seen, ",") != "invalid-new,no-diagnostics,refused-new,timeout-old" {
		t.Fatalf("pages showed %v", seen)
	}

	// None of that counted a receive: the API still says 0, and the first real receive is the first.
	var peeked []peekedMessage
	if err := json.Unmarshal([]byte(sqsCLI(t, ep, false, "dlq", "peek", "work-dlq", "--json")), &peeked); err != nil || len(peeked) != 4 {
		t.Fatalf("peek --json: %v %v", peeked, err)
	}
	for _, m := range peeked {
		if m.ReceiveCount != 0 {
			t.Fatalf("after admin-API peeks %s shows %d receives", m.Body, m.ReceiveCount)
		}
	}
	r, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &dlq, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(r.Messages) == 0 {
		t.Fatalf("receive: %v %v", r, err)
	}
	for _, m := range r.Messages {
		if n := m.Attributes["ApproximateReceiveCount"]; n != "1" {
			t.Fatalf("the first receive of %s says ApproximateReceiveCount %s", aws.ToString(m.Body), n)
		}
		// Visible again for the fallback checks below.
		if _, err := c.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{QueueUrl: &dlq, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
	}

	runPeek := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code := run(ctx, append([]string{"dlq", "peek", "work-dlq", "--sqs-endpoint", ep}, args...), &o, &e)
		return code, o.String(), e.String()
	}
	// Nothing listens: auto falls back to the SQS API and says so; --via api does not.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	code, stdout, stderr := runPeek("--http-addr", dead, "--match-body", "timeout")
	if code != 0 || !strings.Contains(stderr, "peeking through the SQS API") || !strings.Contains(stdout, "timeout-old") || !strings.Contains(stdout, "last error: smtp: i/o timeout") {
		t.Fatalf("fallback: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if code, _, stderr := runPeek("--http-addr", dead, "--via", "api"); code == 0 || !strings.Contains(stderr, "cannot reach") {
		t.Fatalf("--via api with nothing listening: exit %d: %s", code, stderr)
	}
	// Something answers with an HTTP error (the SQS listener has no /api/): no fallback.
	if code, _, stderr := runPeek("--http-addr", strings.TrimPrefix(ep, "http://")); code == 0 || strings.Contains(stderr, "peeking through the SQS API") {
		t.Fatalf("HTTP error: exit %d: %s", code, stderr)
	}
	h, _ := httpAddrOf.Load(ep)
	if code, _, stderr := runPeek("--http-addr", h.(string), "nope"); code == 0 {
		t.Fatalf("two queues: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runPeek("--http-addr", h.(string), "--via", "carrier-pigeon"); code == 0 || !strings.Contains(stderr, "--via") {
		t.Fatalf("bad --via: exit %d: %s", code, stderr)
	}
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"dlq", "peek", "missing", "--http-addr", h.(string), "--sqs-endpoint", ep}, &o, &e); code == 0 || !strings.Contains(e.String(), "404") || strings.Contains(e.String(), "SQS API") {
		t.Fatalf("unknown queue: exit %d: %s", code, e.String())
	}
}
