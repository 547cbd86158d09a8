package outbox_test

import (
	"bytes"
	"context"
	"maps"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/outbox"
)

// What is enqueued is what the publisher gets: nil and empty keys stay
// apart (a Kafka null key is not an empty key), bodies and attributes
// survive, and rows come out in enqueue order with their bookkeeping.
func TestRoundTrip(t *testing.T) {
	eachStore(t, func(t *testing.T, k *kit) {
		in := []outbox.Message{
			{Destination: "a", Body: []byte("no key")},
			{Destination: "a", Key: []byte{}, Body: []byte("empty key")},
			{Destination: "b", Key: []byte{0, 1, 2, 0xff}, Body: nil},
			{Destination: "c", Body: []byte{0, 0xfe, 'x'}, Attributes: map[string]string{"é": "ü", "q": `"quoted"`}},
			{Destination: "a", ID: "custom-id-1", Body: []byte("custom id")},
		}
		before := time.Now().Add(-time.Second)
		k.enqueue(t, true, in...)
		for i, m := range in {
			if m.ID == "" {
				t.Fatalf("message %d: Enqueue did not fill in the ID", i)
			}
		}
		var out []outbox.Message
		pub := outbox.PublisherFunc(func(_ context.Context, ms []outbox.Message) error {
			out = append(out, ms...)
			return nil
		})
		r := newRelay(t, outbox.RelayConfig{Store: k.store, Publisher: pub})
		if n, err := r.Drain(ctxT(t)); err != nil || n != len(in) {
			t.Fatalf("Drain = %d, %v", n, err)
		}
		if len(out) != len(in) {
			t.Fatalf("published %d, want %d", len(out), len(in))
		}
		for i := range in {
			a, b := in[i], out[i]
			if a.ID != b.ID || a.Destination != b.Destination || !bytes.Equal(a.Body, b.Body) ||
				!bytes.Equal(a.Key, b.Key) || (a.Key == nil) != (b.Key == nil) || !maps.Equal(a.Attributes, b.Attributes) {
				t.Errorf("message %d:\n in  %+v\n out %+v", i, a, b)
			}
			if b.Attempts != 0 || b.Seq == 0 || b.CreatedAt.Before(before) || b.CreatedAt.After(time.Now()) {
				t.Errorf("message %d bookkeeping: seq %d attempts %d created %v", i, b.Seq, b.Attempts, b.CreatedAt)
			}
			if i > 0 && out[i-1].Seq >= b.Seq {
				t.Errorf("not in enqueue order: seq %d then %d", out[i-1].Seq, b.Seq)
			}
		}
	})
}

// Migrate is idempotent, and refuses a schema newer than it knows.
func TestMigrateTwiceAndNewerSchema(t *testing.T) {
	eachStore(t, func(t *testing.T, k *kit) {
		ctx := ctxT(t)
		type migrator interface{ Migrate(context.Context) error }
		m := k.store.(migrator)
		if err := m.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		switch s := k.store.(type) {
		case *outbox.SQLiteStore:
			_, err := s.DB().ExecContext(ctx, `UPDATE sluice_schema SET version = 99`)
			if err != nil {
				t.Fatal(err)
			}
		case *outbox.PostgresStore:
			schema := k.env[2][len("CHILD_SCHEMA="):]
			if _, err := pgConn(t).Exec(ctx, `UPDATE `+schema+`.sluice_schema SET version = 99`); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Migrate(ctx); err == nil || !isSchemaErr(err) {
			t.Fatalf("Migrate over a newer schema = %v, want ErrSchemaVersion", err)
		}
	})
}
