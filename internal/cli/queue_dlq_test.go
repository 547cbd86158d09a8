package cli

import (
	"context"
	"encoding/json"
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
