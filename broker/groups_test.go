package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Committed offsets live in <DataDir>/groups and survive a restart; the
// group settings reach the coordinator; Groups().Lag reports lag.
func TestGroupsDurableAndSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.HTTPAddr = Disabled
	cfg.Settings = map[string]string{"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "100", "offsets.retention.minutes": "60"}
	b := openStarted(t, cfg)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka), kgo.DefaultProduceTopic("lag"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "lag"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset("lag", 0, 4, -1)
	if r, err := adm.CommitOffsets(ctx, "g", offs); err != nil || r.Error() != nil {
		t.Fatal(err, r.Error())
	}
	// A session timeout below Kafka's default minimum is accepted here.
	member, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka), kgo.ConsumerGroup("m"), kgo.ConsumeTopics("lag"), kgo.SessionTimeout(500*time.Millisecond), kgo.HeartbeatInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, _ := b.Groups().Describe("m")
		if d.State.String() == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group with a 500ms session timeout: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	member.Close()
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openStarted(t, cfg)
	lag, err := b.Groups().Lag("g")
	if err != nil || len(lag) != 1 || lag[0].Committed != 4 || lag[0].End != 10 || lag[0].Lag != 6 {
		t.Fatalf("lag after restart: %+v %v", lag, err)
	}
}

func TestGroupSettingsValidated(t *testing.T) {
	t.Parallel()
	for _, s := range []map[string]string{
		{"group.min.session.timeout.ms": "10000", "group.max.session.timeout.ms": "5000"},
		{"offsets.retention.minutes": "0"},
		{"group.max.size": "x"},
	} {
		cfg := testConfig(t.TempDir())
		cfg.Settings = s
		if _, err := Open(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%v: Open = %v, want ErrInvalidConfig", s, err)
		}
	}
}
