package outbox_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/outbox"
)

// childEnv makes the test binary run childMain: a relay process that the
// crash test kills with SIGKILL.
const childEnv = "SLUICE_OUTBOX_CHILD"

// childMain relays from the store named by CHILD_STORE to the Kafka broker
// at CHILD_KAFKA until it is killed. Its publisher pauses after every
// acknowledged batch, before the rows are marked sent, so that a kill
// often lands inside the at-least-once window.
func childMain() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 2 }
	var store outbox.Store
	switch os.Getenv("CHILD_STORE") {
	case "postgres":
		s, err := outbox.NewPostgresStore(outbox.PostgresConfig{ConnString: os.Getenv("CHILD_PG"), Schema: os.Getenv("CHILD_SCHEMA")})
		if err != nil {
			return fail(err)
		}
		store = s
	case "sqlite":
		s, err := outbox.OpenSQLite(outbox.SQLiteConfig{Path: os.Getenv("CHILD_PATH"), LeaseTimeout: time.Second})
		if err != nil {
			return fail(err)
		}
		store = s
	default:
		return fail(fmt.Errorf("CHILD_STORE %q", os.Getenv("CHILD_STORE")))
	}
	kp, err := outbox.NewKafkaPublisher(outbox.KafkaConfig{Brokers: []string{os.Getenv("CHILD_KAFKA")}})
	if err != nil {
		return fail(err)
	}
	pause, _ := time.ParseDuration(os.Getenv("CHILD_PAUSE"))
	pub := outbox.PublisherFunc(func(ctx context.Context, ms []outbox.Message) error {
		if err := kp.Publish(ctx, ms); err != nil {
			return err
		}
		time.Sleep(pause) // acknowledged, not yet marked sent
		return nil
	})
	r, err := outbox.NewRelay(outbox.RelayConfig{Store: store, Publisher: pub, BatchSize: 20, PollInterval: 50 * time.Millisecond, Logger: quiet()})
	if err != nil {
		return fail(err)
	}
	fmt.Println("relaying")
	return fail(r.Run(context.Background())) // runs until killed
}

type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe)}
	c.cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// A relay SIGKILLed while publishing, then restarted, leaves every enqueued
// message published at least once.
func TestRelayKilledMidPublish(t *testing.T) {
	eachStore(t, func(t *testing.T, k *kit) {
		b := startBroker(t)
		topic := "crash-" + k.name
		createTopic(t, b, topic, 3)
		adm := admin(t, b)
		const n = 600
		var enqueued []outbox.Message
		for i := 0; i < n; i += 100 {
			batch := msgs(topic, 100, "m"+strconv.Itoa(i))
			k.enqueue(t, true, batch...)
			enqueued = append(enqueued, batch...)
		}
		env := append(k.env, "CHILD_KAFKA="+b.Addrs().Kafka, "CHILD_PAUSE=5ms")

		c1 := startChild(t, env)
		waitFor(t, 30*time.Second, "the first relay to publish a third", func() bool {
			if c1.cmd.ProcessState != nil {
				t.Fatalf("child exited: %s", c1.stderr.String())
			}
			return topicTotal(t, adm, topic) >= n/3
		})
		c1.kill()
		atKill := topicTotal(t, adm, topic)
		if atKill >= n {
			t.Fatalf("the relay finished (%d records) before it was killed; the test proves nothing", atKill)
		}

		c2 := startChild(t, env)
		waitFor(t, 30*time.Second, "the restarted relay to empty the outbox", func() bool {
			if c2.cmd.ProcessState != nil {
				t.Fatalf("child exited: %s", c2.stderr.String())
			}
			return k.pending(t) == 0
		})
		c2.kill()

		total := topicTotal(t, adm, topic)
		recs := consume(t, b, topic, int(total), 20*time.Second)
		if int64(len(recs)) != total {
			t.Fatalf("consumed %d records, topic has %d", len(recs), total)
		}
		ids := countIDs(recs)
		for _, m := range enqueued {
			if ids[m.ID] == 0 {
				t.Fatalf("message %s (%s) was never published", m.ID, m.Body)
			}
		}
		if len(ids) != n {
			t.Fatalf("%d distinct ids on the topic, want %d", len(ids), n)
		}
		// The consumer side: an inbox turns the duplicates into no-ops.
		inbox := openSQLite(t, t.TempDir()+"/consumer.db", 0)
		if _, err := inbox.DB().Exec(`CREATE TABLE effects (id TEXT)`); err != nil {
			t.Fatal(err)
		}
		skipped := 0
		for _, rec := range recs {
			tx, err := inbox.DB().Begin()
			if err != nil {
				t.Fatal(err)
			}
			first, err := inbox.Inbox().Process(ctxT(t), tx, "consumer", header(rec, outbox.IDAttribute))
			if err != nil {
				t.Fatal(err)
			}
			if first {
				_, err = tx.Exec(`INSERT INTO effects VALUES (?)`, header(rec, outbox.IDAttribute))
			} else {
				skipped++
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		var effects int
		if err := inbox.DB().QueryRow(`SELECT count(*) FROM effects`).Scan(&effects); err != nil {
			t.Fatal(err)
		}
		if effects != n || int64(skipped) != total-int64(n) {
			t.Fatalf("inbox: %d effects, %d skipped; want %d, %d", effects, skipped, n, total-int64(n))
		}
		t.Logf("%s: killed after %d of %d records; after restart %d records, %d distinct, %d duplicates (the at-least-once window)",
			k.name, atKill, n, total, len(ids), total-int64(n))
	})
}
