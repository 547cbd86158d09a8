package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/outbox"
)

// The same message handled twice has one effect; a handler whose
// transaction rolls back leaves the message unprocessed.
func TestInboxSQLite(t *testing.T) {
	s := openSQLite(t, t.TempDir()+"/inbox.db", 0)
	ctx := ctxT(t)
	db := s.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE balance (n INTEGER); INSERT INTO balance VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	inbox := s.Inbox()
	handle := func(id string, commit bool) bool {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		first, err := inbox.Process(ctx, tx, "billing", id)
		if err != nil {
			t.Fatal(err)
		}
		if first {
			if _, err := tx.ExecContext(ctx, `UPDATE balance SET n = n + 10`); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		return first
	}
	balance := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT n FROM balance`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	checkInbox(t, handle, balance)

	// Another consumer has its own record of the same id.
	tx, _ := db.BeginTx(ctx, nil)
	if first, err := inbox.Process(ctx, tx, "shipping", "m-1"); err != nil || !first {
		t.Fatalf("other consumer: first=%v err=%v", first, err)
	}
	tx.Commit()
	checkInboxCleanup(t, func(ctx context.Context, before time.Time) (int64, error) { return inbox.Cleanup(ctx, before) })
	checkInboxArgs(t, func(c, id string) error {
		tx, _ := db.BeginTx(ctx, nil)
		defer tx.Rollback()
		_, err := inbox.Process(ctx, tx, c, id)
		return err
	})
}

func TestInboxPostgres(t *testing.T) {
	url := needPG(t)
	schema := pgSchema(t, url)
	s := newPGStore(t, url, schema)
	ctx := ctxT(t)
	conn := pgConn(t)
	if _, err := conn.Exec(ctx, `CREATE TABLE `+schema+`.balance (n int); INSERT INTO `+schema+`.balance VALUES (0)`); err != nil {
		t.Fatal(err)
	}
	inbox := s.Inbox()
	handle := func(id string, commit bool) bool {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		first, err := inbox.Process(ctx, tx, "billing", id)
		if err != nil {
			t.Fatal(err)
		}
		if first {
			if _, err := tx.Exec(ctx, `UPDATE `+schema+`.balance SET n = n + 10`); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return first
	}
	balance := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT n FROM `+schema+`.balance`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	checkInbox(t, handle, balance)

	// Two handlers of the same redelivered message at once: the second
	// waits for the first and, once it commits, sees first == false.
	other := pgConn(t)
	tx1, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first, err := inbox.Process(ctx, tx1, "billing", "m-race"); err != nil || !first {
		t.Fatalf("tx1: first=%v err=%v", first, err)
	}
	res := make(chan bool, 1)
	go func() {
		tx2, err := other.Begin(ctx)
		if err != nil {
			t.Error(err)
			res <- true
			return
		}
		first, err := inbox.Process(ctx, tx2, "billing", "m-race")
		if err != nil {
			t.Error(err)
		}
		tx2.Rollback(ctx) // before reporting: the test closes the connection after
		res <- first
	}()
	select {
	case <-res:
		t.Fatal("the second Process did not wait for the first transaction")
	case <-time.After(100 * time.Millisecond):
	}
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if <-res {
		t.Fatal("both concurrent handlers saw first == true")
	}
	checkInboxCleanup(t, func(ctx context.Context, before time.Time) (int64, error) { return inbox.Cleanup(ctx, before) })
	checkInboxArgs(t, func(c, id string) error {
		tx, _ := conn.Begin(ctx)
		defer tx.Rollback(ctx)
		_, err := inbox.Process(ctx, tx, c, id)
		return err
	})
}

func checkInbox(t *testing.T, handle func(id string, commit bool) bool, balance func() int) {
	t.Helper()
	if !handle("m-1", true) {
		t.Fatal("first delivery: first == false")
	}
	if handle("m-1", true) {
		t.Fatal("redelivery: first == true")
	}
	if b := balance(); b != 10 {
		t.Fatalf("balance after a message delivered twice = %d, want 10", b)
	}
	// A handler that rolls back did not process the message.
	if !handle("m-2", false) {
		t.Fatal("m-2 first delivery: first == false")
	}
	if !handle("m-2", true) {
		t.Fatal("m-2 after a rolled-back attempt: first == false")
	}
	if handle("m-2", true) {
		t.Fatal("m-2 redelivery: first == true")
	}
	if b := balance(); b != 20 {
		t.Fatalf("balance = %d, want 20", b)
	}
}

func checkInboxCleanup(t *testing.T, cleanup func(context.Context, time.Time) (int64, error)) {
	t.Helper()
	ctx := ctxT(t)
	if n, err := cleanup(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Cleanup of an hour ago = %d, %v; want 0", n, err)
	}
	if n, err := cleanup(ctx, time.Now().Add(time.Second)); err != nil || n < 3 {
		t.Fatalf("Cleanup of everything = %d, %v; want ≥ 3", n, err)
	}
}

func checkInboxArgs(t *testing.T, process func(consumer, id string) error) {
	t.Helper()
	if err := process("", "x"); !errors.Is(err, outbox.ErrInvalidConfig) {
		t.Errorf("empty consumer: %v", err)
	}
	if err := process("c", ""); !errors.Is(err, outbox.ErrInvalidMessage) {
		t.Errorf("empty id: %v", err)
	}
}
