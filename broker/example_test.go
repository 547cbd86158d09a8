package broker_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/broker"
)

// ExampleOpen runs a durable broker in-process on a free port and talks to
// it with an ordinary Kafka client.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sluice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	b, err := broker.Open(broker.Config{
		DataDir:   dir,
		KafkaAddr: "127.0.0.1:0", // any free port; see b.Addrs()
		SQSAddr:   broker.Disabled,
		HTTPAddr:  broker.Disabled,
		Settings:  map[string]string{"num.partitions": "1"},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(); err != nil {
		log.Fatal(err)
	}
	if _, err := b.Topics().Create("greetings", 1, nil, false); err != nil {
		log.Fatal(err)
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(b.Addrs().Kafka),
		kgo.DefaultProduceTopic("greetings"),
		kgo.ConsumeTopics("greetings"),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("hello, sluice")).FirstErr(); err != nil {
		log.Fatal(err)
	}
	fetches := cl.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		log.Fatal(err)
	}
	fetches.EachRecord(func(r *kgo.Record) {
		fmt.Printf("%s[%d]@%d: %s\n", r.Topic, r.Partition, r.Offset, r.Value)
	})
	// Output: greetings[0]@0: hello, sluice
}
