package outbox_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/outbox"
)

// Three relays side by side (each its own store and connection, as three
// processes would be) publish every row exactly once.
func TestParallelRelaysPublishOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, k *kit) {
		b := startBroker(t)
		topic := "parallel-" + k.name
		createTopic(t, b, topic, 3)
		adm := admin(t, b)
		const n = 1500
		for i := 0; i < n; i += 250 {
			k.enqueue(t, true, msgs(topic, 250, "p"+strconv.Itoa(i))...)
		}
		kp := kafkaPublisher(t, b)
		// A short pause per batch makes the relays overlap even on a
		// loaded machine, so that they really compete for rows.
		pub := outbox.PublisherFunc(func(ctx context.Context, ms []outbox.Message) error {
			err := kp.Publish(ctx, ms)
			time.Sleep(2 * time.Millisecond)
			return err
		})
		relays := make([]*outbox.Relay, 3)
		for i := range relays {
			store := k.store
			if i > 0 {
				store = k.another(t)
			}
			relays[i] = newRelay(t, outbox.RelayConfig{Store: store, Publisher: pub, BatchSize: 25, PollInterval: 20 * time.Millisecond})
		}
		for _, r := range relays {
			runRelay(t, r)
		}
		waitFor(t, 30*time.Second, "the outbox to empty", func() bool { return k.pending(t) == 0 })
		total := topicTotal(t, adm, topic)
		recs := consume(t, b, topic, int(total), 20*time.Second)
		ids := countIDs(recs)
		dups := 0
		for _, c := range ids {
			dups += c - 1
		}
		var per []int64
		var sum int64
		for _, r := range relays {
			per = append(per, r.Stats().Published)
			sum += r.Stats().Published
		}
		t.Logf("%s: %d records, %d distinct, %d duplicates; per relay %v", k.name, total, len(ids), dups, per)
		if total != n || len(ids) != n || dups != 0 || sum != n {
			t.Fatalf("records %d, distinct %d, duplicates %d, relays' sum %d; want %d, %d, 0, %d", total, len(ids), dups, sum, n, n, n)
		}
		if k.name == "postgres" {
			for i, p := range per {
				if p == 0 {
					t.Fatalf("relay %d published nothing (%v): the relays did not run side by side", i, per)
				}
			}
		}
	})
}

// A commit wakes a relay (PostgreSQL: LISTEN/NOTIFY; SQLite: commit hook)
// long before its 30-second poll would.
func TestWakeOnCommit(t *testing.T) {
	eachStore(t, func(t *testing.T, k *kit) {
		b := startBroker(t)
		topic := "wake-" + k.name
		createTopic(t, b, topic, 1)
		kp := kafkaPublisher(t, b)
		var mu sync.Mutex
		published := make(map[string]time.Time)
		pub := outbox.PublisherFunc(func(ctx context.Context, ms []outbox.Message) error {
			if err := kp.Publish(ctx, ms); err != nil {
				return err
			}
			now := time.Now()
			mu.Lock()
			for _, m := range ms {
				published[m.ID] = now
			}
			mu.Unlock()
			return nil
		})
		r := newRelay(t, outbox.RelayConfig{Store: k.store, Publisher: pub, PollInterval: 30 * time.Second})
		runRelay(t, r)
		time.Sleep(100 * time.Millisecond) // let the relay's first claim and LISTEN happen

		var lat []time.Duration
		for i := 0; i < 10; i++ {
			m := outbox.Message{Destination: topic, ID: outbox.NewID(), Body: []byte("wake")}
			start := time.Now() // the commit is inside enqueue
			k.enqueue(t, true, m)
			var at time.Time
			waitFor(t, 5*time.Second, "the relay to publish after the commit", func() bool {
				mu.Lock()
				defer mu.Unlock()
				at = published[m.ID]
				return !at.IsZero()
			})
			lat = append(lat, at.Sub(start))
		}
		slices.Sort(lat)
		t.Logf("%s: commit → published latency: median %v, max %v (poll interval 30s)", k.name, lat[len(lat)/2], lat[len(lat)-1])
		if lat[len(lat)-1] > 200*time.Millisecond {
			t.Fatalf("latencies %v: some over 200ms", lat)
		}
	})
}
