package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/outbox"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	goleak.VerifyTestMain(m)
}

// envPG overrides the PostgreSQL the tests use.
const envPG = "SLUICE_TEST_PG"

const defaultPG = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func pgURL() string {
	if u := os.Getenv(envPG); u != "" {
		return u
	}
	return defaultPG
}

func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

var (
	pgOnce sync.Once
	pgErr  error
)

// needPG returns the connection URL of the test database, skipping the
// test loudly when it is unreachable outside CI and failing it in CI.
func needPG(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgURL())
		if err != nil {
			pgErr = err
			return
		}
		pgErr = conn.Ping(ctx)
		conn.Close(ctx)
	})
	if pgErr != nil {
		if inCI() {
			t.Fatalf("PostgreSQL at %s is unreachable and CI is set: %v", pgURL(), pgErr)
		}
		t.Skipf("!!! SKIPPING: PostgreSQL at %s is unreachable (%v). These outbox tests need it; "+
			"set %s to point elsewhere. In CI (CI=true) this is a failure.", pgURL(), pgErr, envPG)
	}
	return pgURL()
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// pgSchema makes a fresh schema name and drops the schema at the end.
func pgSchema(t testing.TB, url string) string {
	schema := fmt.Sprintf("sluice_ob_%d_%08x", os.Getpid(), rand.Uint32())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func newPGStore(t testing.TB, url, schema string) *outbox.PostgresStore {
	t.Helper()
	s, err := outbox.NewPostgresStore(outbox.PostgresConfig{ConnString: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

// kit abstracts over the two stores so that every behaviour is tested on
// both, NATS-style.
type kit struct {
	name  string
	store outbox.Store
	// another store on the same database (a second relay process)
	another func(t testing.TB) outbox.Store
	// enqueue runs one transaction that writes a business row and enqueues
	// msgs, then commits or rolls back.
	enqueue func(t testing.TB, commit bool, msgs ...outbox.Message)
	pending func(t testing.TB) int64
	rows    func(t testing.TB) int64 // all outbox rows, sent or not
	env     []string                 // how a child process reaches the store
}

func pgKit(t testing.TB) *kit {
	url := needPG(t)
	schema := pgSchema(t, url)
	s := newPGStore(t, url, schema)
	ctx := ctxT(t)
	app, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close(context.Background()) })
	if _, err := app.Exec(ctx, `CREATE TABLE `+schema+`.orders (id serial PRIMARY KEY, note text)`); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // app is one connection
	return &kit{
		name:  "postgres",
		store: s,
		another: func(t testing.TB) outbox.Store {
			s, err := outbox.NewPostgresStore(outbox.PostgresConfig{ConnString: url, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		enqueue: func(t testing.TB, commit bool, msgs ...outbox.Message) {
			t.Helper()
			mu.Lock()
			defer mu.Unlock()
			ctx := ctxT(t)
			tx, err := app.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.orders (note) VALUES ('x')`); err != nil {
				t.Fatal(err)
			}
			if err := s.Enqueue(ctx, tx, msgs...); err != nil {
				t.Fatal(err)
			}
			if commit {
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
		},
		pending: func(t testing.TB) int64 {
			n, _, err := s.Pending(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		rows: func(t testing.TB) int64 {
			mu.Lock()
			defer mu.Unlock()
			var n int64
			if err := app.QueryRow(ctxT(t), `SELECT count(*) FROM `+schema+`.sluice_outbox`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
		env: []string{"CHILD_STORE=postgres", "CHILD_PG=" + url, "CHILD_SCHEMA=" + schema},
	}
}

func sqliteKit(t testing.TB) *kit {
	path := filepath.Join(t.TempDir(), "app.db")
	s := openSQLite(t, path, 0)
	ctx := ctxT(t)
	if _, err := s.DB().ExecContext(ctx, `CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)`); err != nil {
		t.Fatal(err)
	}
	return &kit{
		name:    "sqlite",
		store:   s,
		another: func(t testing.TB) outbox.Store { return openSQLite(t, path, 0) },
		enqueue: func(t testing.TB, commit bool, msgs ...outbox.Message) {
			t.Helper()
			ctx := ctxT(t)
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `INSERT INTO orders (note) VALUES ('x')`); err != nil {
				t.Fatal(err)
			}
			if err := s.Enqueue(ctx, tx, msgs...); err != nil {
				t.Fatal(err)
			}
			if commit {
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
		},
		pending: func(t testing.TB) int64 {
			n, _, err := s.Pending(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		rows: func(t testing.TB) int64 {
			var n int64
			if err := s.DB().QueryRowContext(ctxT(t), `SELECT count(*) FROM sluice_outbox`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
		env: []string{"CHILD_STORE=sqlite", "CHILD_PATH=" + path},
	}
}

func openSQLite(t testing.TB, path string, lease time.Duration) *outbox.SQLiteStore {
	t.Helper()
	s, err := outbox.OpenSQLite(outbox.SQLiteConfig{Path: path, LeaseTimeout: lease})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

// eachStore runs f against SQLite and PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, k *kit)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteKit(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, pgKit(t)) })
}

// startBroker runs a Sluice broker in-process on free ports.
func startBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Open(broker.Config{
		DataDir:   t.TempDir(),
		KafkaAddr: "127.0.0.1:0",
		SQSAddr:   "127.0.0.1:0",
		HTTPAddr:  broker.Disabled,
		Logger:    quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return b
}

func createTopic(t testing.TB, b *broker.Broker, name string, partitions int32) {
	t.Helper()
	if _, err := b.Topics().Create(name, partitions, nil, false); err != nil {
		t.Fatal(err)
	}
}

func kafkaPublisher(t testing.TB, b *broker.Broker) *outbox.KafkaPublisher {
	t.Helper()
	p, err := outbox.NewKafkaPublisher(outbox.KafkaConfig{Brokers: []string{b.Addrs().Kafka}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func newRelay(t testing.TB, cfg outbox.RelayConfig) *outbox.Relay {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	r, err := outbox.NewRelay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runRelay runs r until the test ends.
func runRelay(t testing.TB, r *outbox.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay Run: %v", err)
		}
	})
}

// topicTotal is the number of records in a topic (the sum of its end
// offsets; nothing is deleted during a test).
func topicTotal(t testing.TB, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

func admin(t testing.TB, b *broker.Broker) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// consume reads the whole topic (want records, or until timeout) and
// returns the records.
func consume(t testing.TB, b *broker.Broker, topic string, want int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// countIDs counts records per outbox id.
func countIDs(recs []*kgo.Record) map[string]int {
	m := make(map[string]int, len(recs))
	for _, r := range recs {
		m[header(r, outbox.IDAttribute)]++
	}
	return m
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sqsClient(b *broker.Broker) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint:     aws.String("http://" + b.Addrs().SQS),
		RetryMaxAttempts: 1,
	})
}

func msgs(dest string, n int, prefix string) []outbox.Message {
	out := make([]outbox.Message, n)
	for i := range out {
		out[i] = outbox.Message{
			Destination: dest,
			Key:         []byte(fmt.Sprintf("k%d", i%7)),
			Body:        []byte(fmt.Sprintf("%s-%d", prefix, i)),
		}
	}
	return out
}

// pgConn is a plain connection to the test database.
func pgConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctxT(t), needPG(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
