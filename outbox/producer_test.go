package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-mq/sluice"
	"github.com/sluice-mq/sluice/outbox"
)

// The relay can publish through the SDK's producers.
func TestProducerPublisher(t *testing.T) {
	b := startBroker(t)
	createTopic(t, b, "via-producer", 1)
	prod, err := sluice.NewKafkaProducer(sluice.KafkaProducerConfig{Brokers: []string{b.Addrs().Kafka}, Topic: "via-producer", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())
	k := sqliteKit(t)
	var pub outbox.Publisher = outbox.ProducerPublisher{Producers: map[string]*sluice.Producer{"via-producer": prod}}
	r := newRelay(t, outbox.RelayConfig{Store: k.store, Publisher: pub, RetryBackoff: time.Hour, MaxRetryBackoff: time.Hour})
	in := msgs("via-producer", 5, "p")
	in = append(in, outbox.Message{Destination: "unmapped", Body: []byte("x")})
	k.enqueue(t, true, in...)
	if _, err := r.Drain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Published != 5 || st.Failed != 1 {
		t.Fatalf("stats = %+v, want 5 published and the unmapped one failed", st)
	}
	recs := consume(t, b, "via-producer", 5, 10*time.Second)
	ids := countIDs(recs)
	for _, m := range in[:5] {
		if ids[m.ID] != 1 {
			t.Fatalf("message %s published %d times", m.ID, ids[m.ID])
		}
	}
	err = pub.Publish(ctxT(t), []outbox.Message{{Destination: "unmapped", ID: "x"}})
	var pe *outbox.PublishError
	if !errors.As(err, &pe) || pe.Failed[0] == nil {
		t.Fatalf("Publish to an unmapped destination = %v", err)
	}
}
