package outbox

// PostgreSQL store (pgx). Schema version 1, created by Migrate:
//
//	sluice_schema (name text PRIMARY KEY, version int)   -- "outbox:<table>" / "inbox:<table>" → 1
//	<table> (                                             -- default sluice_outbox
//	  id              bigint identity PRIMARY KEY,        -- enqueue order; relays claim oldest first
//	  message_id      text UNIQUE NOT NULL,               -- Message.ID, published as IDAttribute
//	  destination     text NOT NULL,                      -- topic or queue
//	  key             bytea,                              -- NULL: no key
//	  body            bytea NOT NULL,
//	  attributes      jsonb,                              -- {"name":"value",…} or NULL
//	  created_at      timestamptz NOT NULL DEFAULT now(), -- the enqueuing transaction's time
//	  attempts        int NOT NULL DEFAULT 0,             -- publish attempts so far
//	  last_error      text,                               -- of the last failed attempt
//	  next_attempt_at timestamptz NOT NULL DEFAULT now(), -- not claimed before (retry backoff)
//	  sent_at         timestamptz)                        -- NULL while pending
//	<table>_pending  ON (id) WHERE sent_at IS NULL        -- what relays scan
//	<table>_sent     ON (sent_at) WHERE sent_at IS NOT NULL -- what cleanup scans
//	<table>_notify   AFTER INSERT FOR EACH STATEMENT trigger: pg_notify(<channel>, '')
//	<inbox> (consumer text, message_id text, processed_at timestamptz, PRIMARY KEY (consumer, message_id))
//	<inbox>_processed ON (processed_at)
//
// A relay claims rows inside a transaction with SELECT … FOR UPDATE SKIP
// LOCKED, publishes them while holding the row locks, marks them sent and
// commits: concurrent relays skip each other's rows, and a relay that dies
// releases its locks with its connection (PostgreSQL rolls back), so its
// rows are claimed again — published twice if the death came after the
// broker's acknowledgement (the at-least-once window, one batch).
//
// Publishing happens inside the claim's transaction: keep
// RelayConfig.PublishTimeout below the server's
// idle_in_transaction_session_timeout, if one is set.
//
// NOTIFY is sent by the statement trigger, so it is delivered when (and
// only if) the enqueuing transaction commits, and once per transaction.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

const schemaVersion = 1

// PostgresConfig configures a PostgresStore.
type PostgresConfig struct {
	// ConnString is a PostgreSQL URL or key=value string (pgx.ParseConfig).
	// The store dials two connections of its own with it: one for claims,
	// cleanup and migrations, one for LISTEN. Required.
	ConnString string
	// Schema holds the tables. Default "": unqualified names, found through
	// the connection's search_path. Migrate creates a named schema.
	Schema string
	// Table is the outbox table. Default "sluice_outbox".
	Table string
	// InboxTable is the inbox table. Default "sluice_inbox".
	InboxTable string
	// Channel is the LISTEN/NOTIFY channel. Default: Table, prefixed with
	// "<Schema>_" when Schema is set.
	Channel string
}

// Default table names.
const (
	DefaultTable      = "sluice_outbox"
	DefaultInboxTable = "sluice_inbox"
)

func (c PostgresConfig) withDefaults() PostgresConfig {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.InboxTable == "" {
		c.InboxTable = DefaultInboxTable
	}
	if c.Channel == "" {
		c.Channel = c.Table
		if c.Schema != "" {
			c.Channel = c.Schema + "_" + c.Table
		}
	}
	return c
}

func (c PostgresConfig) validate() error {
	if c.Schema != "" {
		if err := checkIdent("PostgresConfig.Schema", c.Schema); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{
		{"PostgresConfig.Table", c.Table}, {"PostgresConfig.InboxTable", c.InboxTable}, {"PostgresConfig.Channel", c.Channel},
	} {
		if err := checkIdent(f.name, f.v); err != nil {
			return err
		}
	}
	if c.Table == c.InboxTable {
		return &ConfigError{Field: "PostgresConfig.InboxTable", Reason: "same as Table"}
	}
	return nil
}

// pgSQL holds the statements for one set of table names.
type pgSQL struct {
	cfg                                         PostgresConfig
	table, inbox, versions                      string // qualified names
	insert, claim, markSent, markFailed         string
	cleanup, pending, inboxInsert, inboxCleanup string
}

func newPGSQL(cfg PostgresConfig) *pgSQL {
	q := func(name string) string {
		if cfg.Schema != "" {
			return cfg.Schema + "." + name
		}
		return name
	}
	t := q(cfg.Table)
	s := &pgSQL{cfg: cfg, table: t, inbox: q(cfg.InboxTable), versions: q("sluice_schema")}
	s.insert = `INSERT INTO ` + t + ` (message_id, destination, key, body, attributes)
SELECT m, d, k, b, a::jsonb FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[]) WITH ORDINALITY AS u(m, d, k, b, a, n) ORDER BY n`
	s.claim = `SELECT id, message_id, destination, key, body, attributes::text, created_at, attempts FROM ` + t + `
WHERE sent_at IS NULL AND next_attempt_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`
	s.markSent = `UPDATE ` + t + ` SET sent_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1::bigint[])`
	s.markFailed = `UPDATE ` + t + ` AS t SET attempts = t.attempts + 1, last_error = u.e,
  next_attempt_at = clock_timestamp() + u.d * interval '1 microsecond'
FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, e, d) WHERE t.id = u.id`
	s.cleanup = `DELETE FROM ` + t + ` WHERE id IN (SELECT id FROM ` + t + ` WHERE sent_at < $1 LIMIT $2)`
	s.pending = `SELECT count(*), min(created_at) FROM ` + t + ` WHERE sent_at IS NULL`
	s.inboxInsert = `INSERT INTO ` + s.inbox + ` (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	s.inboxCleanup = `DELETE FROM ` + s.inbox + ` WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM ` + s.inbox + ` WHERE processed_at < $1 LIMIT $2)`
	return s
}

func (s *pgSQL) migrations() []string {
	t, fn := s.table, s.table+"_notify"
	var stmts []string
	if s.cfg.Schema != "" {
		stmts = append(stmts, `CREATE SCHEMA IF NOT EXISTS `+s.cfg.Schema)
	}
	return append(stmts,
		`CREATE TABLE IF NOT EXISTS `+s.versions+` (name text PRIMARY KEY, version int NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS `+t+` (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id text NOT NULL UNIQUE,
  destination text NOT NULL,
  key bytea,
  body bytea NOT NULL,
  attributes jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz)`,
		`CREATE INDEX IF NOT EXISTS `+s.cfg.Table+`_pending ON `+t+` (id) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS `+s.cfg.Table+`_sent ON `+t+` (sent_at) WHERE sent_at IS NOT NULL`,
		`CREATE OR REPLACE FUNCTION `+fn+`() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('`+s.cfg.Channel+`', ''); RETURN NULL; END $$`,
		// Only when missing: (re)creating a trigger locks the table against
		// enqueues and waits for relays' open claims.
		`DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '`+s.cfg.Table+`_notify' AND tgrelid = '`+t+`'::regclass) THEN
    CREATE TRIGGER `+s.cfg.Table+`_notify AFTER INSERT ON `+t+` FOR EACH STATEMENT EXECUTE FUNCTION `+fn+`();
  END IF;
END $$`,
		`CREATE TABLE IF NOT EXISTS `+s.inbox+` (
  consumer text NOT NULL,
  message_id text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id))`,
		`CREATE INDEX IF NOT EXISTS `+s.cfg.InboxTable+`_processed ON `+s.inbox+` (processed_at)`,
	)
}

func (s *pgSQL) enqueue(ctx context.Context, tx pgx.Tx, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if tx == nil {
		return errors.New("outbox: Enqueue needs a transaction")
	}
	attrs, err := prepare(msgs)
	if err != nil {
		return err
	}
	ids := make([]string, len(msgs))
	dests := make([]string, len(msgs))
	keys := make([][]byte, len(msgs))
	bodies := make([][]byte, len(msgs))
	jattrs := make([]pgtype.Text, len(msgs))
	for i := range msgs {
		ids[i], dests[i], keys[i] = msgs[i].ID, msgs[i].Destination, msgs[i].Key
		bodies[i] = msgs[i].Body
		if bodies[i] == nil {
			bodies[i] = []byte{} // body is NOT NULL; nil means empty
		}
		if attrs[i] != nil {
			jattrs[i] = pgtype.Text{String: string(attrs[i]), Valid: true}
		}
	}
	if _, err := tx.Exec(ctx, s.insert, ids, dests, keys, bodies, jattrs); err != nil {
		return fmt.Errorf("outbox: enqueue into %s: %w", s.table, err)
	}
	return nil
}

var defaultPG = newPGSQL(PostgresConfig{}.withDefaults())

// EnqueuePG inserts msgs into the default outbox table (sluice_outbox, on
// the search_path) within tx: they are published only if tx commits. Use
// PostgresStore.Enqueue for other table names.
func EnqueuePG(ctx context.Context, tx pgx.Tx, msgs ...Message) error {
	return defaultPG.enqueue(ctx, tx, msgs)
}

// PostgresStore is the outbox and inbox on PostgreSQL. It is safe for
// concurrent use; its claims and cleanups take turns on one connection, so
// run one store per relay for parallel relays.
type PostgresStore struct {
	sql     *pgSQL
	connCfg *pgx.ConnConfig

	sem    chan struct{} // holds the right to use conn (a lock that respects ctx)
	conn   *pgx.Conn     // nil until first use or after it broke; guarded by sem
	closed bool          // guarded by sem
}

// NewPostgresStore validates cfg. It does not connect: the first call that
// needs the database does.
func NewPostgresStore(cfg PostgresConfig) (*PostgresStore, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ConnString == "" {
		return nil, &ConfigError{Field: "PostgresConfig.ConnString", Reason: "required"}
	}
	cc, err := pgx.ParseConfig(cfg.ConnString)
	if err != nil {
		return nil, &ConfigError{Field: "PostgresConfig.ConnString", Reason: err.Error()}
	}
	return &PostgresStore{sql: newPGSQL(cfg), connCfg: cc, sem: make(chan struct{}, 1)}, nil
}

// Enqueue inserts msgs into the store's outbox table within tx (a
// transaction of the caller's, on any connection to the same database):
// they are published only if tx commits. Messages without an ID get one.
func (s *PostgresStore) Enqueue(ctx context.Context, tx pgx.Tx, msgs ...Message) error {
	return s.sql.enqueue(ctx, tx, msgs)
}

// Migrate creates the schema, tables, indexes and trigger if missing. It is
// idempotent and safe to run from several processes at once.
func (s *PostgresStore) Migrate(ctx context.Context) error {
	return s.withConn(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// Concurrent CREATE … IF NOT EXISTS can still collide in the
			// catalog; serialize migrations database-wide.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sluice-outbox-migrate'))`); err != nil {
				return err
			}
			names := []string{"outbox:" + s.sql.cfg.Table, "inbox:" + s.sql.cfg.InboxTable}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.sql.versions).Scan(&exists); err != nil {
				return err
			}
			if exists {
				var v int
				err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+s.sql.versions+` WHERE name = ANY($1)`, names).Scan(&v)
				if err != nil {
					return err
				}
				if v > schemaVersion {
					return fmt.Errorf("%w: %s has version %d, this code knows %d", ErrSchemaVersion, s.sql.table, v, schemaVersion)
				}
			}
			for _, stmt := range s.sql.migrations() {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("outbox: migrate: %w", err)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO `+s.sql.versions+` (name, version) SELECT unnest($1::text[]), $2
ON CONFLICT (name) DO UPDATE SET version = excluded.version`, names, schemaVersion)
			return err
		})
	})
}

// Claim locks up to max due rows with FOR UPDATE SKIP LOCKED in a
// transaction that stays open (holding the store's connection) until the
// claim is finished or aborted.
func (s *PostgresStore) Claim(ctx context.Context, max int) (Claim, error) {
	conn, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		s.release(conn)
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	msgs, err := s.scanClaim(ctx, tx, max)
	if err != nil || len(msgs) == 0 {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		s.release(conn)
		if err != nil {
			return nil, fmt.Errorf("outbox: claim: %w", err)
		}
		return emptyClaim{}, nil
	}
	return &pgClaim{s: s, conn: conn, tx: tx, msgs: msgs}, nil
}

func (s *PostgresStore) scanClaim(ctx context.Context, tx pgx.Tx, max int) ([]Message, error) {
	rows, err := tx.Query(ctx, s.sql.claim, max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []Message
	for rows.Next() {
		var m Message
		var attrs *string
		if err := rows.Scan(&m.Seq, &m.ID, &m.Destination, &m.Key, &m.Body, &attrs, &m.CreatedAt, &m.Attempts); err != nil {
			return nil, err
		}
		if attrs != nil {
			if m.Attributes, err = decodeAttributes([]byte(*attrs)); err != nil {
				return nil, err
			}
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

type pgClaim struct {
	s    *PostgresStore
	conn *pgx.Conn
	tx   pgx.Tx
	msgs []Message
	done bool
}

func (c *pgClaim) Messages() []Message { return c.msgs }
func (c *pgClaim) Deadline() time.Time { return time.Time{} }

func (c *pgClaim) Finish(ctx context.Context, failed map[int]Failure) error {
	if c.done {
		return nil
	}
	c.done = true
	defer c.s.release(c.conn)
	sent := make([]int64, 0, len(c.msgs))
	var fids, fdelays []int64
	var ferrs []string
	for i, m := range c.msgs {
		f, bad := failed[i]
		if !bad {
			sent = append(sent, m.Seq)
			continue
		}
		fids = append(fids, m.Seq)
		fdelays = append(fdelays, f.Delay.Microseconds())
		msg := "unknown error"
		if f.Err != nil {
			msg = f.Err.Error()
		}
		ferrs = append(ferrs, msg)
	}
	b := &pgx.Batch{}
	if len(sent) > 0 {
		b.Queue(c.s.sql.markSent, sent)
	}
	if len(fids) > 0 {
		b.Queue(c.s.sql.markFailed, fids, ferrs, fdelays)
	}
	if err := c.tx.SendBatch(ctx, b).Close(); err != nil {
		_ = c.tx.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("outbox: mark %d rows sent: %w", len(sent), err)
	}
	if err := c.tx.Commit(ctx); err != nil {
		return fmt.Errorf("outbox: commit %d sent rows: %w", len(sent), err)
	}
	return nil
}

func (c *pgClaim) Abort(ctx context.Context) error {
	if c.done {
		return nil
	}
	c.done = true
	defer c.s.release(c.conn)
	return c.tx.Rollback(ctx)
}

type emptyClaim struct{}

func (emptyClaim) Messages() []Message                           { return nil }
func (emptyClaim) Deadline() time.Time                           { return time.Time{} }
func (emptyClaim) Finish(context.Context, map[int]Failure) error { return nil }
func (emptyClaim) Abort(context.Context) error                   { return nil }

// Listen dials a dedicated connection, LISTENs on the channel the insert
// trigger notifies, and calls wake per notification until ctx ends.
func (s *PostgresStore) Listen(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return fmt.Errorf("outbox: listen: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+s.sql.cfg.Channel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("outbox: listen: %w", err)
	}
	wake() // rows committed before LISTEN took effect were not notified to us
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("outbox: listen: %w", err)
		}
		wake()
	}
}

// Cleanup deletes rows sent before sentBefore, in chunks so that no
// statement holds many locks for long.
func (s *PostgresStore) Cleanup(ctx context.Context, sentBefore time.Time) (int64, error) {
	return s.deleteChunks(ctx, s.sql.cleanup, sentBefore)
}

const cleanupChunk = 10000

func (s *PostgresStore) deleteChunks(ctx context.Context, stmt string, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.withConn(ctx, func(conn *pgx.Conn) error {
			tag, err := conn.Exec(ctx, stmt, before, cleanupChunk)
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("outbox: cleanup: %w", err)
		}
		if n < cleanupChunk {
			return total, nil
		}
	}
}

// Pending reports how many rows wait to be published and when the oldest
// was enqueued (zero when none).
func (s *PostgresStore) Pending(ctx context.Context) (n int64, oldest time.Time, err error) {
	err = s.withConn(ctx, func(conn *pgx.Conn) error {
		var ts *time.Time
		if err := conn.QueryRow(ctx, s.sql.pending).Scan(&n, &ts); err != nil {
			return err
		}
		if ts != nil {
			oldest = *ts
		}
		return nil
	})
	return n, oldest, err
}

// Inbox returns the store's inbox, for handlers whose transactions are
// pgx.Tx on the same database.
func (s *PostgresStore) Inbox() *Inbox[pgx.Tx] {
	return &Inbox[pgx.Tx]{
		process: func(ctx context.Context, tx pgx.Tx, consumer, id string) (bool, error) {
			if tx == nil {
				return false, errors.New("outbox: inbox: Process needs a transaction")
			}
			tag, err := tx.Exec(ctx, s.sql.inboxInsert, consumer, id)
			if err != nil {
				return false, fmt.Errorf("outbox: inbox: %w", err)
			}
			return tag.RowsAffected() == 1, nil
		},
		cleanup: func(ctx context.Context, before time.Time) (int64, error) {
			return s.deleteChunks(ctx, s.sql.inboxCleanup, before)
		},
	}
}

// Close closes the store's connection; a claim in progress keeps it until
// finished. Later calls fail with ErrClosed.
func (s *PostgresStore) Close() error {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.conn.Close(ctx)
	s.conn = nil
	return err
}

// acquire takes the store's connection, dialing it if needed.
func (s *PostgresStore) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.closed {
		<-s.sem
		return nil, ErrClosed
	}
	if s.conn != nil && s.conn.IsClosed() {
		s.conn = nil
	}
	if s.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
		if err != nil {
			<-s.sem
			return nil, fmt.Errorf("outbox: connect: %w", err)
		}
		s.conn = conn
	}
	return s.conn, nil
}

// release gives the connection back; a connection left mid-transaction
// (or broken) is dropped so that the next user starts clean.
func (s *PostgresStore) release(conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = conn.Close(ctx)
		cancel()
		s.conn = nil
	}
	<-s.sem
}

func (s *PostgresStore) withConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	conn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.release(conn)
	return fn(conn)
}
