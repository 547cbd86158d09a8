package outbox

// SQLite store (modernc.org/sqlite, pure Go): the embedded default.
// Schema version 1, created by Migrate (times are Unix microseconds):
//
//	sluice_schema (name TEXT PRIMARY KEY, version INTEGER)   -- "outbox:<table>" / "inbox:<table>" → 1
//	<table> (                                   -- default sluice_outbox
//	  id              INTEGER PRIMARY KEY AUTOINCREMENT,  -- enqueue order, never reused after cleanup
//	  message_id      TEXT NOT NULL UNIQUE,
//	  destination     TEXT NOT NULL,
//	  key             BLOB,
//	  body            BLOB NOT NULL,
//	  attributes      TEXT,                     -- JSON object of strings, or NULL
//	  created_at      INTEGER NOT NULL,
//	  attempts        INTEGER NOT NULL DEFAULT 0,
//	  last_error      TEXT,
//	  next_attempt_at INTEGER NOT NULL,         -- not claimed before (retry backoff)
//	  lease_until     INTEGER,                  -- claimed by a relay until then
//	  lease_token     TEXT,                     -- which claim holds the lease
//	  sent_at         INTEGER)                  -- NULL while pending
//	<table>_pending ON (id) WHERE sent_at IS NULL
//	<table>_sent    ON (sent_at) WHERE sent_at IS NOT NULL
//	<inbox> (consumer TEXT, message_id TEXT, processed_at INTEGER, PRIMARY KEY (consumer, message_id))
//	<inbox>_processed ON (processed_at)
//
// SQLite has one writer at a time, so a relay does not hold a transaction
// open while it publishes (that would stall the application's writes).
// It claims rows with a lease in a short BEGIN IMMEDIATE transaction,
// publishes outside any transaction, then marks them sent in a second one.
// Several relays on one file therefore take turns on the claim and never
// publish the same row while its lease lasts; one relay per file is the
// normal setup. A relay killed mid-publish leaves its rows leased: they are
// claimed again once LeaseTimeout has passed (and published a second time
// if the broker had acknowledged them — the at-least-once window).
//
// Wake-ups: a store opened from a Path registers SQLite pre-update, commit
// and rollback hooks on its connections, so a commit that inserted outbox
// rows through Store.DB() wakes the relays of this process at once. Writes
// from other processes or other *sql.DB handles are found by polling.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// SQLiteConfig configures a SQLiteStore. Set Path or DB.
type SQLiteConfig struct {
	// Path is the database file, opened in WAL mode with a busy timeout and
	// with _txlock=immediate (every transaction of Store.DB() takes the
	// write lock at BEGIN, which avoids SQLITE_BUSY on lock upgrades; use
	// a separate handle for long read-only work). Created if missing.
	Path string
	// DB is an already open database to use instead of Path (the caller
	// closes it and chooses its settings; WAL and a busy timeout are
	// strongly advised). Relays then find new rows by polling only.
	DB *sql.DB
	// Table is the outbox table. Default "sluice_outbox".
	Table string
	// InboxTable is the inbox table. Default "sluice_inbox".
	InboxTable string
	// BusyTimeout is how long a statement waits for another writer (PRAGMA
	// busy_timeout; Path only). Default 5s.
	BusyTimeout time.Duration
	// LeaseTimeout is how long claimed rows stay reserved for the relay
	// that claimed them; publishing is cut off before it ends. Default 1m.
	LeaseTimeout time.Duration
}

// Defaults of SQLiteConfig.
const (
	DefaultBusyTimeout  = 5 * time.Second
	DefaultLeaseTimeout = time.Minute
)

func (c SQLiteConfig) withDefaults() SQLiteConfig {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.InboxTable == "" {
		c.InboxTable = DefaultInboxTable
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	if c.LeaseTimeout == 0 {
		c.LeaseTimeout = DefaultLeaseTimeout
	}
	return c
}

func (c SQLiteConfig) validate() error {
	switch {
	case (c.Path == "") == (c.DB == nil):
		return &ConfigError{Field: "SQLiteConfig.Path", Reason: "set exactly one of Path and DB"}
	case strings.ContainsAny(c.Path, "?#"):
		return &ConfigError{Field: "SQLiteConfig.Path", Reason: "must not contain '?' or '#'"}
	case c.BusyTimeout < 0:
		return &ConfigError{Field: "SQLiteConfig.BusyTimeout", Reason: "negative"}
	case c.LeaseTimeout < time.Second:
		return &ConfigError{Field: "SQLiteConfig.LeaseTimeout", Reason: "shorter than 1s"}
	case c.Table == c.InboxTable:
		return &ConfigError{Field: "SQLiteConfig.InboxTable", Reason: "same as Table"}
	}
	if err := checkIdent("SQLiteConfig.Table", c.Table); err != nil {
		return err
	}
	return checkIdent("SQLiteConfig.InboxTable", c.InboxTable)
}

// sqliteSQL holds the statements for one set of table names.
type sqliteSQL struct {
	table, inbox                                        string
	insert, claim, lease, markSent, markFailed, unlease string
	cleanup, pending, inboxInsert, inboxCleanup         string
}

func newSQLiteSQL(table, inbox string) *sqliteSQL {
	t := table
	ids := ` id IN (SELECT value FROM json_each(?))`
	return &sqliteSQL{
		table: t, inbox: inbox,
		insert: `INSERT INTO ` + t + ` (message_id, destination, key, body, attributes, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		claim: `SELECT id, message_id, destination, key, body, attributes, created_at, attempts FROM ` + t + `
WHERE sent_at IS NULL AND next_attempt_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY id LIMIT ?2`,
		lease:        `UPDATE ` + t + ` SET lease_until = ?, lease_token = ? WHERE` + ids,
		markSent:     `UPDATE ` + t + ` SET sent_at = ?, attempts = attempts + 1, last_error = NULL, lease_until = NULL, lease_token = NULL WHERE lease_token = ? AND` + ids,
		markFailed:   `UPDATE ` + t + ` SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_until = NULL, lease_token = NULL WHERE id = ? AND lease_token = ?`,
		unlease:      `UPDATE ` + t + ` SET lease_until = NULL, lease_token = NULL WHERE lease_token = ?`,
		cleanup:      `DELETE FROM ` + t + ` WHERE id IN (SELECT id FROM ` + t + ` WHERE sent_at < ? LIMIT ?)`,
		pending:      `SELECT count(*), min(created_at) FROM ` + t + ` WHERE sent_at IS NULL`,
		inboxInsert:  `INSERT INTO ` + inbox + ` (consumer, message_id, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		inboxCleanup: `DELETE FROM ` + inbox + ` WHERE rowid IN (SELECT rowid FROM ` + inbox + ` WHERE processed_at < ? LIMIT ?)`,
	}
}

func (s *sqliteSQL) migrations() []string {
	t, i := s.table, s.inbox
	return []string{
		`CREATE TABLE IF NOT EXISTS sluice_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS ` + t + ` (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  destination TEXT NOT NULL,
  key BLOB,
  body BLOB NOT NULL,
  attributes TEXT,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  next_attempt_at INTEGER NOT NULL,
  lease_until INTEGER,
  lease_token TEXT,
  sent_at INTEGER)`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_pending ON ` + t + ` (id) WHERE sent_at IS NULL`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_sent ON ` + t + ` (sent_at) WHERE sent_at IS NOT NULL`,
		`CREATE TABLE IF NOT EXISTS ` + i + ` (
  consumer TEXT NOT NULL,
  message_id TEXT NOT NULL,
  processed_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, message_id))`,
		`CREATE INDEX IF NOT EXISTS ` + i + `_processed ON ` + i + ` (processed_at)`,
	}
}

func (s *sqliteSQL) enqueue(ctx context.Context, tx *sql.Tx, msgs []Message) error {
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
	stmt, err := tx.PrepareContext(ctx, s.insert)
	if err != nil {
		return fmt.Errorf("outbox: enqueue into %s: %w", s.table, err)
	}
	defer stmt.Close()
	now := time.Now().UnixMicro()
	for i := range msgs {
		m := &msgs[i]
		body := m.Body
		if body == nil {
			body = []byte{}
		}
		var key, at any
		if m.Key != nil {
			key = m.Key
		}
		if attrs[i] != nil {
			at = string(attrs[i])
		}
		if _, err := stmt.ExecContext(ctx, m.ID, m.Destination, key, body, at, now, now); err != nil {
			return fmt.Errorf("outbox: enqueue into %s: %w", s.table, err)
		}
	}
	return nil
}

var defaultSQLite = newSQLiteSQL(DefaultTable, DefaultInboxTable)

// EnqueueSQL inserts msgs into the default SQLite outbox table
// (sluice_outbox) within tx: they are published only if tx commits. Use
// SQLiteStore.Enqueue for other table names.
func EnqueueSQL(ctx context.Context, tx *sql.Tx, msgs ...Message) error {
	return defaultSQLite.enqueue(ctx, tx, msgs)
}

// SQLiteStore is the outbox and inbox on SQLite. Safe for concurrent use.
type SQLiteStore struct {
	cfg    SQLiteConfig
	sql    *sqliteSQL
	db     *sql.DB
	ownsDB bool

	mu     sync.Mutex           // guards wakers
	wakers map[*func()]struct{} // Listen calls waiting for commits
}

// OpenSQLite opens (Path) or adopts (DB) the database. Call Migrate before
// the first Enqueue.
func OpenSQLite(cfg SQLiteConfig) (*SQLiteStore, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &SQLiteStore{cfg: cfg, sql: newSQLiteSQL(cfg.Table, cfg.InboxTable), wakers: make(map[*func()]struct{})}
	if cfg.DB != nil {
		s.db = cfg.DB
		return s, nil
	}
	dsn := cfg.Path + "?_pragma=busy_timeout(" + strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)&_txlock=immediate"
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, &ConfigError{Field: "SQLiteConfig.Path", Reason: err.Error()}
	}
	s.db = sql.OpenDB(hookConnector{Connector: base, s: s})
	s.ownsDB = true
	if err := s.db.Ping(); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("outbox: open %s: %w", cfg.Path, err)
	}
	return s, nil
}

// DB is the database handle. Run the application's transactions on it so
// that their commits wake the relay at once.
func (s *SQLiteStore) DB() *sql.DB { return s.db }

// Close closes the database if the store opened it.
func (s *SQLiteStore) Close() error {
	if s.ownsDB {
		return s.db.Close()
	}
	return nil
}

// Enqueue inserts msgs into the store's outbox table within tx: they are
// published only if tx commits. Messages without an ID get one.
func (s *SQLiteStore) Enqueue(ctx context.Context, tx *sql.Tx, msgs ...Message) error {
	return s.sql.enqueue(ctx, tx, msgs)
}

// Migrate creates the tables and indexes if missing (idempotent).
func (s *SQLiteStore) Migrate(ctx context.Context) error {
	return s.immediate(ctx, func(conn *sql.Conn) error {
		names := []any{"outbox:" + s.cfg.Table, "inbox:" + s.cfg.InboxTable}
		var exists int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'sluice_schema'`).Scan(&exists); err != nil {
			return err
		}
		if exists > 0 {
			var v int
			if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM sluice_schema WHERE name IN (?, ?)`, names...).Scan(&v); err != nil {
				return err
			}
			if v > schemaVersion {
				return fmt.Errorf("%w: %s has version %d, this code knows %d", ErrSchemaVersion, s.cfg.Table, v, schemaVersion)
			}
		}
		for _, stmt := range s.sql.migrations() {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("outbox: migrate: %w", err)
			}
		}
		for _, n := range names {
			if _, err := conn.ExecContext(ctx, `INSERT INTO sluice_schema (name, version) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET version = excluded.version`, n, schemaVersion); err != nil {
				return err
			}
		}
		return nil
	})
}

// Claim leases up to max due rows to a new claim in a BEGIN IMMEDIATE
// transaction and commits; the rows stay reserved until Finish, Abort or
// LeaseTimeout.
func (s *SQLiteStore) Claim(ctx context.Context, max int) (Claim, error) {
	token := NewID()
	var msgs []Message
	start := time.Now()
	leaseUntil := start.Add(s.cfg.LeaseTimeout)
	err := s.immediate(ctx, func(conn *sql.Conn) error {
		rows, err := conn.QueryContext(ctx, s.sql.claim, start.UnixMicro(), max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Message
			var attrs sql.NullString
			var created int64
			var key any // a []byte scan turns an empty BLOB into nil, losing "empty key" vs "no key"
			if err := rows.Scan(&m.Seq, &m.ID, &m.Destination, &key, &m.Body, &attrs, &created, &m.Attempts); err != nil {
				return err
			}
			switch k := key.(type) {
			case []byte:
				m.Key = append([]byte{}, k...)
			case string: // a key written as TEXT by hand
				m.Key = []byte(k)
			}
			m.CreatedAt = time.UnixMicro(created)
			if attrs.Valid {
				if m.Attributes, err = decodeAttributes([]byte(attrs.String)); err != nil {
					return err
				}
			}
			msgs = append(msgs, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(msgs) == 0 {
			return nil
		}
		_, err = conn.ExecContext(ctx, s.sql.lease, leaseUntil.UnixMicro(), token, seqJSON(msgs, nil))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	if len(msgs) == 0 {
		return emptyClaim{}, nil
	}
	// Publishing stops a tenth of the lease early, leaving time to mark.
	deadline := start.Add(s.cfg.LeaseTimeout * 9 / 10)
	return &sqliteClaim{s: s, token: token, msgs: msgs, deadline: deadline}, nil
}

// seqJSON is a JSON array of the rows' ids (for json_each), skipping those
// in skip.
func seqJSON(msgs []Message, skip map[int]Failure) string {
	b := make([]byte, 0, 2+len(msgs)*8)
	b = append(b, '[')
	first := true
	for i, m := range msgs {
		if _, ok := skip[i]; ok {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = strconv.AppendInt(b, m.Seq, 10)
	}
	return string(append(b, ']'))
}

type sqliteClaim struct {
	s        *SQLiteStore
	token    string
	msgs     []Message
	deadline time.Time
	done     bool
}

func (c *sqliteClaim) Messages() []Message { return c.msgs }
func (c *sqliteClaim) Deadline() time.Time { return c.deadline }

func (c *sqliteClaim) Finish(ctx context.Context, failed map[int]Failure) error {
	if c.done {
		return nil
	}
	c.done = true
	var marked int64
	err := c.s.immediate(ctx, func(conn *sql.Conn) error {
		now := time.Now()
		if len(failed) < len(c.msgs) {
			res, err := conn.ExecContext(ctx, c.s.sql.markSent, now.UnixMicro(), c.token, seqJSON(c.msgs, failed))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			marked += n
		}
		for i, f := range failed {
			if i < 0 || i >= len(c.msgs) {
				continue
			}
			msg := "unknown error"
			if f.Err != nil {
				msg = f.Err.Error()
			}
			res, err := conn.ExecContext(ctx, c.s.sql.markFailed, msg, now.Add(f.Delay).UnixMicro(), c.msgs[i].Seq, c.token)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			marked += n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: mark %d rows: %w", len(c.msgs), err)
	}
	if marked < int64(len(c.msgs)) {
		return fmt.Errorf("%w: %d of %d rows", ErrLeaseLost, int64(len(c.msgs))-marked, len(c.msgs))
	}
	return nil
}

func (c *sqliteClaim) Abort(ctx context.Context) error {
	if c.done {
		return nil
	}
	c.done = true
	if _, err := c.s.db.ExecContext(ctx, c.s.sql.unlease, c.token); err != nil {
		return fmt.Errorf("outbox: release claim: %w", err)
	}
	return nil
}

// Listen waits for commits that inserted outbox rows through DB() (when
// the store opened the database itself); with an adopted DB it returns nil
// at once and relays poll.
func (s *SQLiteStore) Listen(ctx context.Context, wake func()) error {
	if !s.ownsDB {
		return nil
	}
	key := &wake
	s.mu.Lock()
	s.wakers[key] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.wakers, key)
		s.mu.Unlock()
	}()
	<-ctx.Done()
	return nil
}

// notify runs inside SQLite's commit hook: it must not block or touch the
// database.
func (s *SQLiteStore) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.wakers {
		(*w)()
	}
}

// Cleanup deletes rows sent before sentBefore, in chunks.
func (s *SQLiteStore) Cleanup(ctx context.Context, sentBefore time.Time) (int64, error) {
	return s.deleteChunks(ctx, s.sql.cleanup, sentBefore)
}

func (s *SQLiteStore) deleteChunks(ctx context.Context, stmt string, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, stmt, before.UnixMicro(), cleanupChunk)
		if err != nil {
			return total, fmt.Errorf("outbox: cleanup: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < cleanupChunk {
			return total, nil
		}
	}
}

// Pending reports how many rows wait to be published and when the oldest
// was enqueued (zero when none).
func (s *SQLiteStore) Pending(ctx context.Context) (n int64, oldest time.Time, err error) {
	var min sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.sql.pending).Scan(&n, &min); err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox: pending: %w", err)
	}
	if min.Valid {
		oldest = time.UnixMicro(min.Int64)
	}
	return n, oldest, nil
}

// Inbox returns the store's inbox, for handlers whose transactions are
// *sql.Tx on the same database.
func (s *SQLiteStore) Inbox() *Inbox[*sql.Tx] {
	return &Inbox[*sql.Tx]{
		process: func(ctx context.Context, tx *sql.Tx, consumer, id string) (bool, error) {
			if tx == nil {
				return false, errors.New("outbox: inbox: Process needs a transaction")
			}
			res, err := tx.ExecContext(ctx, s.sql.inboxInsert, consumer, id, time.Now().UnixMicro())
			if err != nil {
				return false, fmt.Errorf("outbox: inbox: %w", err)
			}
			n, err := res.RowsAffected()
			return n == 1, err
		},
		cleanup: func(ctx context.Context, before time.Time) (int64, error) {
			return s.deleteChunks(ctx, s.sql.inboxCleanup, before)
		},
	}
}

// immediate runs fn in a BEGIN IMMEDIATE transaction on one connection:
// the write lock is taken up front (waiting up to the busy timeout), so
// the transaction cannot fail later on a lock upgrade.
func (s *SQLiteStore) immediate(ctx context.Context, fn func(conn *sql.Conn) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	// COMMIT and ROLLBACK run even when ctx ended: a connection must not go
	// back to the pool inside a transaction.
	bg := context.WithoutCancel(ctx)
	if err := fn(conn); err != nil {
		s.rollback(bg, conn)
		return err
	}
	if _, err := conn.ExecContext(bg, "COMMIT"); err != nil {
		s.rollback(bg, conn)
		return err
	}
	return nil
}

func (s *SQLiteStore) rollback(ctx context.Context, conn *sql.Conn) {
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		// Unknown transaction state: have database/sql discard the
		// connection instead of reusing it.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// sqliteInsert is SQLITE_INSERT, the pre-update hook's op for an insert.
const sqliteInsert = 18

// hookConnector opens connections with hooks that notice commits of
// transactions that inserted outbox rows.
type hookConnector struct {
	driver.Connector
	s *SQLiteStore
}

func (c hookConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	hr, ok := conn.(sqlite.HookRegisterer)
	if !ok {
		return conn, nil // polling still finds the rows
	}
	// dirty is per connection, and a connection is used by one goroutine
	// at a time (database/sql), so the hooks need no lock.
	var dirty bool
	table := c.s.cfg.Table
	hr.RegisterPreUpdateHook(func(d sqlite.SQLitePreUpdateData) {
		if d.Op == sqliteInsert && d.TableName == table {
			dirty = true
		}
	})
	hr.RegisterCommitHook(func() int32 {
		if dirty {
			dirty = false
			c.s.notify()
		}
		return 0 // 0: let the commit proceed
	})
	hr.RegisterRollbackHook(func() { dirty = false })
	return conn, nil
}

// interface checks
var (
	_ Store = (*PostgresStore)(nil)
	_ Store = (*SQLiteStore)(nil)
)
