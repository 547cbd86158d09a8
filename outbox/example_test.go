package outbox_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/outbox"
)

// Example writes an order and its "order created" event in one SQLite
// transaction; a relay publishes the event to a Kafka topic on an
// in-process Sluice broker.
func Example() {
	dir, err := os.MkdirTemp("", "outbox-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A broker to publish to (any Kafka cluster would do).
	b, err := broker.Open(broker.Config{DataDir: filepath.Join(dir, "broker"), KafkaAddr: "127.0.0.1:0",
		SQSAddr: broker.Disabled, HTTPAddr: broker.Disabled, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(); err != nil {
		log.Fatal(err)
	}
	if _, err := b.Topics().Create("orders", 1, nil, false); err != nil {
		log.Fatal(err)
	}

	// The application's database holds the outbox.
	store, err := outbox.OpenSQLite(outbox.SQLiteConfig{Path: filepath.Join(dir, "app.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	db := store.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)`); err != nil {
		log.Fatal(err)
	}

	// The business write and the event commit or roll back together.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, item) VALUES (42, 'teapot')`); err != nil {
		log.Fatal(err)
	}
	err = store.Enqueue(ctx, tx, outbox.Message{
		Destination: "orders",
		Key:         []byte("order-42"),
		Body:        []byte(`{"order":42,"item":"teapot"}`),
		Attributes:  map[string]string{"type": "order.created"},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}

	// The relay publishes pending rows (Run keeps doing so; Drain does it once).
	pub, err := outbox.NewKafkaPublisher(outbox.KafkaConfig{Brokers: []string{b.Addrs().Kafka}})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	relay, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Publisher: pub})
	if err != nil {
		log.Fatal(err)
	}
	n, err := relay.Drain(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published:", n)

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka), kgo.ConsumeTopics("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		fmt.Printf("%s %s %s\n", r.Key, r.Value, r.Headers[0].Value)
	})
	// Output:
	// published: 1
	// order-42 {"order":42,"item":"teapot"} order.created
}

// ExampleInbox makes a consumer idempotent: the message id is recorded in
// the handler's transaction, so a redelivery has no second effect.
func ExampleInbox() {
	dir, err := os.MkdirTemp("", "inbox-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := outbox.OpenSQLite(outbox.SQLiteConfig{Path: filepath.Join(dir, "consumer.db")})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	db := store.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE credits (n INTEGER); INSERT INTO credits VALUES (0)`); err != nil {
		log.Fatal(err)
	}
	inbox := store.Inbox()

	// handle is a message handler; id would be the message's
	// Attributes[outbox.IDAttribute] (or an SQS MessageId, a Kafka offset).
	handle := func(id string) {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer tx.Rollback()
		first, err := inbox.Process(ctx, tx, "credits", id)
		if err != nil {
			log.Fatal(err)
		}
		if !first {
			fmt.Println("duplicate", id, "skipped")
			return
		}
		if _, err := tx.ExecContext(ctx, `UPDATE credits SET n = n + 5`); err != nil {
			log.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			log.Fatal(err)
		}
		fmt.Println("processed", id)
	}
	handle("msg-1")
	handle("msg-1") // redelivered
	var n int
	if err := db.QueryRowContext(ctx, `SELECT n FROM credits`).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("credits:", n)
	// Output:
	// processed msg-1
	// duplicate msg-1 skipped
	// credits: 5
}
