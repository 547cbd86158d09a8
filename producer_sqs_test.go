package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/sluicetest"
)

func newSQSProducer(t *testing.T, b *sluicetest.Broker, cfg sluice.SQSProducerConfig) *sluice.Producer {
	t.Helper()
	if cfg.Client == nil && cfg.Endpoint == "" {
		cfg.Client = b.SQSClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	p, err := sluice.NewSQSProducer(cfg)
	if err != nil {
		t.Fatalf("NewSQSProducer: %v", err)
	}
	t.Cleanup(func() { p.Close(testCtx(t)) })
	return p
}

func TestSQSProducerPublishSync(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	url := b.CreateQueue("sync", nil)
	// A client made from Endpoint, as a program outside tests would.
	p := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: url, Endpoint: b.SQSEndpoint()})
	ctx := testCtx(t)

	start := time.Now()
	err := p.PublishSync(ctx,
		sluice.Message{Body: []byte("one"), Attributes: map[string]string{"kind": "greeting"}},
		sluice.Message{Body: []byte("two")},
	)
	if err != nil {
		t.Fatalf("PublishSync: %v", err)
	}
	// PublishSync does not wait for Linger (10ms) on top of the round trip.
	t.Logf("PublishSync of 2 took %v", time.Since(start))

	out, err := b.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]types.MessageAttributeValue{}
	for _, m := range out.Messages {
		got[aws.ToString(m.Body)] = m.MessageAttributes
	}
	if len(got) != 2 {
		t.Fatalf("received %v, want one and two", got)
	}
	if v := got["one"]["kind"]; aws.ToString(v.StringValue) != "greeting" || aws.ToString(v.DataType) != "String" {
		t.Errorf("attribute kind = %+v, want String greeting", v)
	}
	if s := p.Stats(); s.Published != 2 || s.Failed != 0 || s.BufferedMessages != 0 || s.BufferedBytes != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestSQSProducerFireAndForget(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	url := b.CreateQueue("ff", nil)
	sink := &errorSink{}
	reg := prometheus.NewRegistry()
	p := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: url, OnError: sink.onError, Registerer: reg})
	ctx := testCtx(t)

	const n = 500
	for i := range n {
		if err := p.Publish(ctx, sluice.Message{Body: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if s := p.Stats(); s.Published != n || s.BufferedMessages != 0 {
		t.Fatalf("after Flush: %+v", s)
	}
	if msgs, _ := sink.snapshot(); len(msgs) != 0 {
		t.Fatalf("OnError got %d failures", len(msgs))
	}
	got := receiveAll(t, ctx, b.SQSClient(), url, n)
	for i := range n {
		if c := got[fmt.Sprintf("m%d", i)]; c != 1 {
			t.Fatalf("m%d received %d times", i, c)
		}
	}
	if v := gatheredValue(t, reg, "sluice_producer_published_total", "ff"); v != n {
		t.Errorf("sluice_producer_published_total = %v, want %d", v, n)
	}
}

// gatheredValue is the value of one counter or gauge series of reg.
func gatheredValue(t *testing.T, reg *prometheus.Registry, name, dest string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "destination" && l.GetValue() == dest {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{destination=%q} not gathered", name, dest)
	return 0
}

func TestSQSProducerMissingQueueReportsOnError(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	url := b.SQSEndpoint() + "/000000000000/no-such-queue"
	sink := &errorSink{}
	p := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: url, OnError: sink.onError})
	ctx := testCtx(t)

	for i := range 3 {
		if err := p.Publish(ctx, sluice.Message{Body: fmt.Appendf(nil, "lost-%d", i)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	msgs, errs := sink.snapshot()
	if len(msgs) != 3 {
		t.Fatalf("OnError got %d failures (%v), want 3", len(msgs), errs)
	}
	var qdne *types.QueueDoesNotExist
	if !errors.As(errs[0], &qdne) {
		t.Errorf("error %v is not QueueDoesNotExist", errs[0])
	}
	if s := p.Stats(); s.Failed != 3 || s.Published != 0 {
		t.Errorf("stats %+v", s)
	}
	// The confirmed path returns the same failure.
	if err := p.PublishSync(ctx, sluice.Message{Body: []byte("x")}); !errors.As(err, &qdne) {
		t.Errorf("PublishSync: %v, want QueueDoesNotExist", err)
	}
}

func TestSQSProducerPerEntryFailure(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	url := b.CreateQueue("small", map[string]string{"MaximumMessageSize": "1024"})
	p := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: url})
	ctx := testCtx(t)

	err := p.PublishSync(ctx,
		sluice.Message{Body: []byte("fits")},
		sluice.Message{Body: []byte(strings.Repeat("x", 2000))},
		sluice.Message{Body: []byte("fits too")},
		sluice.Message{Body: []byte("bad \x01 control")},
	)
	var pe *sluice.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("PublishSync: %v, want *PublishError", err)
	}
	if pe.Errors[0] != nil || pe.Errors[2] != nil {
		t.Errorf("good messages failed: %v", pe.Errors)
	}
	var ee *sluice.SQSEntryError
	if !errors.As(pe.Errors[1], &ee) || !ee.SenderFault {
		t.Errorf("oversized message: %v, want a sender-fault *SQSEntryError", pe.Errors[1])
	}
	if !errors.Is(pe.Errors[3], sluice.ErrInvalidMessage) || !errors.Is(err, sluice.ErrInvalidMessage) {
		t.Errorf("control character: %v, want ErrInvalidMessage", pe.Errors[3])
	}
	got := receiveAll(t, ctx, b.SQSClient(), url, 2)
	if got["fits"] != 1 || got["fits too"] != 1 {
		t.Errorf("received %v", got)
	}
	if err := p.TryPublish(sluice.Message{}); !errors.Is(err, sluice.ErrInvalidMessage) {
		t.Errorf("empty body: %v, want ErrInvalidMessage", err)
	}
}

// A destination failing with server faults (here a proxy answering
// InternalFailure to the first SendMessageBatch calls) is retried with
// backoff until it takes the messages.
func TestSQSProducerRetriesTransientFailures(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	url := b.CreateQueue("flaky", nil)
	target, err := neturl.Parse(b.SQSEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = b.HTTPClient().Transport
	var failures atomic.Int32
	failures.Store(3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") && failures.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"__type":"InternalFailure","message":"try again"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	// No retries in the AWS client: the producer's own must do the work.
	cl := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: b.SQSClient().Options().Credentials, HTTPClient: srv.Client()})
	t.Cleanup(srv.Client().CloseIdleConnections)
	p := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: url, Client: cl, RetryBackoff: 20 * time.Millisecond})
	ctx := testCtx(t)
	if err := p.PublishSync(ctx, sluice.Message{Body: []byte("eventually")}); err != nil {
		t.Fatalf("PublishSync through 3 server faults: %v", err)
	}
	if n := failures.Load(); n >= 0 {
		t.Fatalf("proxy still has %d failures to give: the retries were not exercised", n+1)
	}
	if got := receiveAll(t, ctx, b.SQSClient(), url, 1); got["eventually"] != 1 {
		t.Errorf("received %v", got)
	}

	// A short DeliveryTimeout gives up and says why.
	failures.Store(1000)
	q := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: url, Client: cl, RetryBackoff: 20 * time.Millisecond,
		DeliveryTimeout: 150 * time.Millisecond})
	err = q.PublishSync(ctx, sluice.Message{Body: []byte("never")})
	if err == nil || !strings.Contains(err.Error(), "InternalFailure") {
		t.Errorf("PublishSync past DeliveryTimeout: %v, want the InternalFailure", err)
	}
}

func TestSQSProducerBufferFull(t *testing.T) {
	leakCheck(t)
	// A destination that accepts connections and never answers: nothing
	// leaves the buffer.
	endpoint := "http://" + blackhole(t)
	sink := &errorSink{}
	p, err := sluice.NewSQSProducer(sluice.SQSProducerConfig{
		QueueURL: endpoint + "/000000000000/q", Endpoint: endpoint,
		BufferMemory: 400, // two 100-byte messages (+64 each), not three
		MaxBlock:     300 * time.Millisecond,
		Linger:       -1,
		OnError:      sink.onError,
		Logger:       quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	body := []byte(strings.Repeat("b", 100))
	for i := range 2 {
		if err := p.TryPublish(sluice.Message{Body: body}); err != nil {
			t.Fatalf("TryPublish %d: %v", i, err)
		}
	}
	start := time.Now()
	if err := p.TryPublish(sluice.Message{Body: body}); !errors.Is(err, sluice.ErrBufferFull) {
		t.Fatalf("TryPublish on a full buffer: %v, want ErrBufferFull", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("TryPublish took %v: it must refuse at once", d)
	}
	start = time.Now()
	if err := p.Publish(ctx, sluice.Message{Body: body}); !errors.Is(err, sluice.ErrBufferFull) {
		t.Fatalf("Publish on a full buffer: %v, want ErrBufferFull", err)
	}
	if d := time.Since(start); d < 280*time.Millisecond || d > 2*time.Second {
		t.Errorf("Publish blocked %v, want about MaxBlock (300ms)", d)
	}
	if err := p.TryPublish(sluice.Message{Body: []byte(strings.Repeat("z", 1000))}); !errors.Is(err, sluice.ErrMessageTooLarge) {
		t.Errorf("message larger than BufferMemory: %v, want ErrMessageTooLarge", err)
	}
	if s := p.Stats(); s.BufferedMessages != 2 || s.BufferedBytes != 2*(100+64) {
		t.Errorf("stats %+v", s)
	}

	// Close cannot deliver them: the two messages are reported, not dropped.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := p.Close(cctx); err == nil {
		t.Errorf("Close flushed a buffer whose destination never answers")
	}
	msgs, errs := sink.snapshot()
	if len(msgs) != 2 || !errors.Is(errs[0], sluice.ErrClosed) {
		t.Fatalf("OnError after Close: %d messages, errors %v; want 2 × ErrClosed", len(msgs), errs)
	}
	if err := p.Publish(ctx, sluice.Message{Body: body}); !errors.Is(err, sluice.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
}

func TestSQSProducerThrottle(t *testing.T) {
	leakCheck(t)
	b := sluicetest.NewBroker(t)
	ctx := testCtx(t)
	cl := b.SQSClient()
	fill := func(url string, n int) {
		for i := 0; i < n; i += 10 {
			var es []types.SendMessageBatchRequestEntry
			for j := i; j < min(n, i+10); j++ {
				es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(j)), MessageBody: aws.String("fill")})
			}
			if _, err := cl.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: es}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// At the limit: refused at once, by every publishing call.
	full := b.CreateQueue("full", nil)
	fill(full, 20)
	reg := prometheus.NewRegistry()
	p := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: full, Registerer: reg,
		Throttle: &sluice.ThrottleConfig{MaxDepth: 20, Interval: 50 * time.Millisecond}})
	if got := p.Pressure(); got != 1 {
		t.Errorf("Pressure = %v, want 1", got)
	}
	if got := gatheredValue(t, reg, "sluice_producer_pressure", "full"); got != 1 {
		t.Errorf("sluice_producer_pressure = %v, want 1", got)
	}
	for name, publish := range map[string]func() error{
		"Publish":     func() error { return p.Publish(ctx, sluice.Message{Body: []byte("x")}) },
		"PublishSync": func() error { return p.PublishSync(ctx, sluice.Message{Body: []byte("x")}) },
		"TryPublish":  func() error { return p.TryPublish(sluice.Message{Body: []byte("x")}) },
	} {
		if err := publish(); !errors.Is(err, sluice.ErrThrottled) {
			t.Errorf("%s at pressure 1: %v, want ErrThrottled", name, err)
		}
	}
	// Draining the queue lifts the refusal within a poll interval or two.
	receiveAll(t, ctx, cl, full, 20)
	deadline := time.Now().Add(5 * time.Second)
	for p.Pressure() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.PublishSync(ctx, sluice.Message{Body: []byte("after drain")}); err != nil {
		t.Errorf("PublishSync after drain (pressure %v): %v", p.Pressure(), err)
	}

	// At 85%: slowed by (0.85-0.8)/0.2 × MaxDelay = 250ms per call.
	busy := b.CreateQueue("busy", nil)
	fill(busy, 17)
	slow := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: busy,
		Throttle: &sluice.ThrottleConfig{MaxDepth: 20, Interval: time.Hour, MaxDelay: time.Second}})
	if got := slow.Pressure(); got < 0.849 || got > 0.851 {
		t.Errorf("Pressure = %v, want 0.85", got)
	}
	start := time.Now()
	if err := slow.PublishSync(ctx, sluice.Message{Body: []byte("slowed")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 240*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("PublishSync at pressure 0.85 took %v, want about 250ms", d)
	}
	start = time.Now()
	if err := slow.TryPublish(sluice.Message{Body: []byte("not slowed")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("TryPublish at pressure 0.85 took %v: it never waits", d)
	}

	// Below 80%: no delay at all (control for the measurement above).
	calm := b.CreateQueue("calm", nil)
	fill(calm, 10)
	fast := newSQSProducer(t, b, sluice.SQSProducerConfig{QueueURL: calm,
		Throttle: &sluice.ThrottleConfig{MaxDepth: 20, Interval: time.Hour, MaxDelay: time.Second}})
	start = time.Now()
	if err := fast.PublishSync(ctx, sluice.Message{Body: []byte("fast")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("PublishSync at pressure 0.5 took %v", d)
	}
}

func TestSQSProducerConfigErrors(t *testing.T) {
	for name, cfg := range map[string]sluice.SQSProducerConfig{
		"QueueURL":          {Endpoint: "http://x"},
		"Client":            {QueueURL: "http://x/1/q"},
		"Throttle.MaxDepth": {QueueURL: "http://x/1/q", Endpoint: "http://x", Throttle: &sluice.ThrottleConfig{}},
		"BufferMemory":      {QueueURL: "http://x/1/q", Endpoint: "http://x", BufferMemory: -1},
	} {
		_, err := sluice.NewSQSProducer(cfg)
		if !errors.Is(err, sluice.ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming the field", name, err)
		}
	}
}
