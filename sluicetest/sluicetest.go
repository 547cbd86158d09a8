// Package sluicetest runs a real, durable Sluice broker in-process for tests:
// Kafka and SQS listeners on free ports (port 0), data in t.TempDir(), all of
// it closed by t.Cleanup.
//
//	b := sluicetest.NewBroker(t)
//	b.CreateTopic("orders", 3)
//	url := b.CreateQueue("jobs", nil)
//	cl := b.KafkaClient(kgo.ConsumeTopics("orders")) // closed on cleanup
//	sq := b.SQSClient()                              // aws-sdk-go-v2, static credentials
//
// Example functions, which have no *testing.T, use Start and call the stop
// function it returns.
//
// The package is for tests and examples only: it exists so that users' tests
// exercise the same protocol paths their production code does, against a
// broker that is real rather than a fake.
package sluicetest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/broker"
)

// Region is the AWS region the SQS clients of this package are configured
// with; the broker accepts any.
const Region = "us-east-1"

// Broker is an in-process broker with helpers to reach it.
type Broker struct {
	b    *broker.Broker
	dir  string
	tb   testing.TB // nil for brokers made by Start
	http *http.Client

	mu      sync.Mutex
	sqs     *sqs.Client
	clients []*kgo.Client // made by KafkaClient; closed by stop
	stopped bool
}

// Option adjusts the broker NewBroker and Start run.
type Option func(*broker.Config)

// WithSettings passes broker settings by their Kafka names (see package
// broker), e.g. {"num.partitions": "3", "message.max.bytes": "1000"}.
func WithSettings(settings map[string]string) Option {
	return func(c *broker.Config) { c.Settings = settings }
}

// WithLogger makes the broker log to l (default: discarded, so that test
// output stays readable).
func WithLogger(l *slog.Logger) Option {
	return func(c *broker.Config) { c.Logger = l }
}

// NewBroker starts a broker for the test; t.Cleanup closes it (and the
// clients made through it). A failure to start fails the test.
func NewBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	b, err := start(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("sluicetest: %v", err)
	}
	b.tb = t
	t.Cleanup(b.stop)
	return b
}

// Start starts a broker in a fresh temporary directory, for Example functions
// and small programs that have no *testing.T. Call stop to close the broker
// and remove the directory. Helper methods of a Broker made by Start that
// fail print the error and exit the process, as log.Fatal does.
func Start(opts ...Option) (b *Broker, stop func(), err error) {
	dir, err := os.MkdirTemp("", "sluicetest-")
	if err != nil {
		return nil, nil, fmt.Errorf("sluicetest: %w", err)
	}
	b, err = start(dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return b, func() { b.stop(); os.RemoveAll(dir) }, nil
}

func start(dir string, opts []Option) (*Broker, error) {
	cfg := broker.Config{
		DataDir:   dir,
		KafkaAddr: "127.0.0.1:0",
		SQSAddr:   "127.0.0.1:0",
		HTTPAddr:  broker.Disabled,
		Logger:    slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	// Whatever an option did, the broker must stay private to this process.
	cfg.DataDir, cfg.KafkaAddr, cfg.SQSAddr, cfg.HTTPAddr = dir, "127.0.0.1:0", "127.0.0.1:0", broker.Disabled
	bk, err := broker.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("sluicetest: open broker: %w", err)
	}
	if err := bk.Start(); err != nil {
		bk.Close()
		return nil, fmt.Errorf("sluicetest: start broker: %w", err)
	}
	// An own transport, so that stop can close its idle connections: their
	// goroutines would otherwise outlive the test and trip goleak.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return &Broker{b: bk, dir: dir, http: hc}, nil
}

// stop closes the Kafka clients made here, the broker, and idle HTTP
// connections. Idempotent.
func (b *Broker) stop() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	clients := b.clients
	b.mu.Unlock()
	for _, cl := range clients {
		cl.Close()
	}
	b.b.Close()
	b.http.CloseIdleConnections()
}

// fatalf fails the test, or for a Broker made by Start, exits like log.Fatal.
func (b *Broker) fatalf(format string, args ...any) {
	if b.tb != nil {
		b.tb.Helper()
		b.tb.Fatalf("sluicetest: "+format, args...)
		return
	}
	fmt.Fprintf(os.Stderr, "sluicetest: "+format+"\n", args...)
	os.Exit(1)
}

// Broker returns the embedded broker (topics, queues, groups, data dir).
func (b *Broker) Broker() *broker.Broker { return b.b }

// KafkaAddr is the host:port of the Kafka listener, for kgo.SeedBrokers.
func (b *Broker) KafkaAddr() string { return b.b.Addrs().Kafka }

// SQSEndpoint is the base URL of the SQS listener ("http://127.0.0.1:port"),
// for aws-sdk-go-v2's BaseEndpoint.
func (b *Broker) SQSEndpoint() string { return "http://" + b.b.Addrs().SQS }

// HTTPClient is the HTTP client SQSClient uses; its idle connections are
// closed when the broker stops. Give it to other SQS clients of the test so
// that they leave no goroutines behind.
func (b *Broker) HTTPClient() *http.Client { return b.http }

// SQSClient returns an aws-sdk-go-v2 SQS client for the broker, configured as
// a user would: static credentials, Region, BaseEndpoint. One client is made
// and shared.
func (b *Broker) SQSClient() *sqs.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sqs == nil {
		b.sqs = sqs.New(sqs.Options{
			Region:       Region,
			Credentials:  credentials.NewStaticCredentialsProvider("sluicetest", "sluicetest", ""),
			BaseEndpoint: aws.String(b.SQSEndpoint()),
			HTTPClient:   b.http,
		})
	}
	return b.sqs
}

// KafkaClient returns a franz-go client seeded with the broker plus opts. It
// is closed when the broker stops (closing it earlier is fine).
func (b *Broker) KafkaClient(opts ...kgo.Opt) *kgo.Client {
	if b.tb != nil {
		b.tb.Helper()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.KafkaAddr())}, opts...)...)
	if err != nil {
		b.fatalf("kafka client: %v", err)
		return nil
	}
	b.mu.Lock()
	b.clients = append(b.clients, cl)
	b.mu.Unlock()
	return cl
}

// CreateQueue creates an SQS queue through the SQS API (attrs by their SQS
// names, e.g. "VisibilityTimeout", "FifoQueue") and returns its URL.
func (b *Broker) CreateQueue(name string, attrs map[string]string) string {
	if b.tb != nil {
		b.tb.Helper()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := b.SQSClient().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		b.fatalf("create queue %q: %v", name, err)
		return ""
	}
	return aws.ToString(out.QueueUrl)
}

// CreateTopic creates a topic with the given number of partitions and the
// broker's default topic configs.
func (b *Broker) CreateTopic(name string, partitions int32) {
	if b.tb != nil {
		b.tb.Helper()
	}
	if _, err := b.b.Topics().Create(name, partitions, nil, false); err != nil {
		b.fatalf("create topic %q: %v", name, err)
	}
}

// CreateTopicWithConfigs creates a topic with topic configs by their Kafka
// names (e.g. "max.message.bytes").
func (b *Broker) CreateTopicWithConfigs(name string, partitions int32, configs map[string]string) {
	if b.tb != nil {
		b.tb.Helper()
	}
	if _, err := b.b.Topics().Create(name, partitions, configs, false); err != nil {
		b.fatalf("create topic %q: %v", name, err)
	}
}
