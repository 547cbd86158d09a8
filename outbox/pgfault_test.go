package outbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/outbox"
)

func isSchemaErr(err error) bool { return errors.Is(err, outbox.ErrSchemaVersion) }

// When PostgreSQL drops the relay's connections (a restart, a failover, an
// idle-connection reaper), the relay reconnects: it claims again and
// LISTENs again, and a commit still wakes it.
func TestPostgresConnectionsKilled(t *testing.T) {
	url := needPG(t)
	schema := pgSchema(t, url)
	app := "outbox-test-" + schema
	store := newPGStore(t, url+"&application_name="+app, schema)
	admin := pgConn(t)
	ctx := ctxT(t)

	var mu sync.Mutex
	published := make(map[string]time.Time)
	pub := outbox.PublisherFunc(func(_ context.Context, ms []outbox.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			published[m.ID] = time.Now()
		}
		return nil
	})
	r := newRelay(t, outbox.RelayConfig{Store: store, Publisher: pub, PollInterval: 30 * time.Second,
		RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 50 * time.Millisecond})
	runRelay(t, r)

	enqueue := func() string {
		conn := pgConn(t)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := outbox.Message{Destination: "d", Body: []byte("x"), ID: outbox.NewID()}
		if err := store.Enqueue(ctx, tx, m); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	waitPublished := func(id string) {
		waitFor(t, 5*time.Second, "the relay to publish "+id, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return !published[id].IsZero()
		})
	}
	waitPublished(enqueue())

	var killed int
	err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = $1`, app).Scan(&killed)
	if err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("terminated %d backends, want the claim and the LISTEN connections", killed)
	}
	time.Sleep(200 * time.Millisecond) // the listener notices, backs off, reconnects
	waitPublished(enqueue())
	waitPublished(enqueue())
}

// Several processes may run Migrate at once on an empty database.
func TestPostgresConcurrentMigrate(t *testing.T) {
	url := needPG(t)
	schema := pgSchema(t, url)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		s, err := outbox.NewPostgresStore(outbox.PostgresConfig{ConnString: url, Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		wg.Go(func() { errs <- s.Migrate(ctxT(t)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
