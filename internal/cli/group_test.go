package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/broker"
)

// startGroupBroker starts an in-process Sluice broker whose groups
// rebalance at once (no initial delay) and accept short sessions.
func startGroupBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Open(broker.Config{
		DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", SQSAddr: broker.Disabled, HTTPAddr: broker.Disabled,
		Logger:   slog.New(slog.DiscardHandler),
		Settings: map[string]string{"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "100"},
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

func committedOffsets(t *testing.T, b *broker.Broker, g string) map[int32]int64 {
	t.Helper()
	offs, err := b.Groups().FetchOffsets(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, o := range offs {
		out[o.Partition] = o.Offset
	}
	return out
}

func TestGroupCommands(t *testing.T) {
	t.Parallel()
	b := startGroupBroker(t)
	addr := b.Addrs().Kafka
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("clig"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "clig"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 10; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	member, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("cg"), kgo.ConsumeTopics("clig"), kgo.ClientID("cli-member"),
		kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100*time.Millisecond), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if d, _ := b.Groups().Describe("cg"); d.State.String() == "Stable" && len(d.Members) == 1 {
			if a := d.Members[0].Assignment; len(a) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("group cg never became stable")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var commitErr error
	member.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"clig": {0: {Epoch: -1, Offset: 4}, 1: {Epoch: -1, Offset: 4}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						commitErr = err
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatalf("member commit: %v", commitErr)
	}

	out := sluice(t, "group", "list", "-b", addr).ok(t).stdout
	mustContain(t, out, "GROUP", "cg", "Stable", "consumer", "1")
	if r := sluice(t, "group", "list", "-b", addr, "--state", "Empty").ok(t); !strings.Contains(r.stderr, "No groups.") {
		t.Fatalf("list --state Empty: %+v", r)
	}
	out = sluice(t, "group", "describe", "cg", "-b", addr).ok(t).stdout
	mustContain(t, out, "state Stable", "assignor cooperative-sticky", "total lag 12", "CURRENT-OFFSET", "/127.0.0.1", "cli-member")
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 9 && f[1] == "clig" && (f[3] != "4" || f[4] != "10" || f[5] != "6") {
			t.Fatalf("describe row %q: want offset 4, end 10, lag 6", line)
		}
	}
	out = sluice(t, "group", "describe", "cg", "--members", "-b", addr).ok(t).stdout
	mustContain(t, out, "#PARTITIONS", "clig:0,clig:1")
	var js []groupDescription
	if err := json.Unmarshal([]byte(sluice(t, "group", "describe", "cg", "--json", "-b", addr).ok(t).stdout), &js); err != nil || len(js) != 1 || js[0].TotalLag != 12 || len(js[0].Partitions) != 2 {
		t.Fatalf("describe --json: %+v %v", js, err)
	}

	// Refused while the group is active, as kafka-consumer-groups does.
	sluice(t, "group", "reset-offsets", "cg", "--topic", "clig", "--to-earliest", "--execute", "-b", addr).fails(t, "inactive, but the current state is Stable")
	sluice(t, "group", "delete", "cg", "-b", addr).fails(t, "NON_EMPTY_GROUP")

	member.Close() // leaves the group
	deadline = time.Now().Add(10 * time.Second)
	for {
		if d, _ := b.Groups().Describe("cg"); d.State.String() == "Empty" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("group cg never became empty")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out = sluice(t, "group", "describe", "cg", "-b", addr).ok(t).stdout
	mustContain(t, out, "state Empty", "has no active members", "clig")

	// Dry run (the default): shown, not committed.
	r := sluice(t, "group", "reset-offsets", "cg", "--topic", "clig", "--to-earliest", "-b", addr).ok(t)
	mustContain(t, r.stderr, "--execute option is missing")
	mustContain(t, r.stdout, "NEW-OFFSET")
	if c := committedOffsets(t, b, "cg"); c[0] != 4 || c[1] != 4 {
		t.Fatalf("a dry run committed: %v", c)
	}
	sluice(t, "group", "reset-offsets", "cg", "--topic", "clig", "--to-earliest", "--dry-run", "-b", addr).ok(t)
	if c := committedOffsets(t, b, "cg"); c[0] != 4 {
		t.Fatalf("--dry-run committed: %v", c)
	}

	for _, tc := range []struct {
		args []string
		want map[int32]int64
	}{
		{[]string{"--topic", "clig", "--to-earliest"}, map[int32]int64{0: 0, 1: 0}},
		{[]string{"--topic", "clig:1", "--to-offset", "7"}, map[int32]int64{0: 0, 1: 7}},
		{[]string{"--topic", "clig", "--to-offset", "99"}, map[int32]int64{0: 10, 1: 10}}, // clamped to the end
		{[]string{"--all-topics", "--shift-by", "-3"}, map[int32]int64{0: 7, 1: 7}},
		{[]string{"--topic", "clig", "--to-datetime", "2000-01-01T00:00:00Z"}, map[int32]int64{0: 0, 1: 0}},
		{[]string{"--topic", "clig", "--to-datetime", time.Now().Add(time.Hour).Format(time.RFC3339)}, map[int32]int64{0: 10, 1: 10}},
		{[]string{"--topic", "clig:0", "--to-latest"}, map[int32]int64{0: 10, 1: 10}},
	} {
		args := append([]string{"group", "reset-offsets", "cg", "--execute", "-b", addr}, tc.args...)
		sluice(t, args...).ok(t)
		if c := committedOffsets(t, b, "cg"); c[0] != tc.want[0] || c[1] != tc.want[1] {
			t.Fatalf("%v: committed %v, want %v", tc.args, c, tc.want)
		}
	}
	var entries []resetEntry
	if err := json.Unmarshal([]byte(sluice(t, "group", "reset-offsets", "cg", "--all-topics", "--to-earliest", "--json", "-b", addr).ok(t).stdout), &entries); err != nil || len(entries) != 2 || entries[0].Current != 10 || entries[0].NewOffset != 0 {
		t.Fatalf("reset --json: %+v %v", entries, err)
	}

	// Usage errors.
	sluice(t, "group", "reset-offsets", "cg", "--topic", "clig", "-b", addr).fails(t, "exactly one of")
	sluice(t, "group", "reset-offsets", "cg", "--to-latest", "-b", addr).fails(t, "--topic")
	sluice(t, "group", "reset-offsets", "cg", "--topic", "nosuch", "--to-latest", "-b", addr).fails(t, "does not exist")
	sluice(t, "group", "reset-offsets", "cg", "--topic", "clig", "--to-datetime", "yesterday", "-b", addr).fails(t, "not a time")
	sluice(t, "group", "bogus", "-b", addr).fails(t, "unknown command")

	sluice(t, "group", "delete", "cg", "-b", addr).ok(t)
	if r := sluice(t, "group", "list", "-b", addr).ok(t); !strings.Contains(r.stderr, "No groups.") {
		t.Fatalf("list after delete: %+v", r)
	}
	sluice(t, "group", "delete", "cg", "-b", addr).fails(t, "GROUP_ID_NOT_FOUND")
}

func TestParseResetTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{
		"1700000000000":             1700000000000,
		"2023-11-14T22:13:20Z":      1700000000000,
		"2023-11-14T22:13:20.5Z":    1700000000500,
		"2023-11-14T23:13:20+01:00": 1700000000000,
	} {
		if got, err := parseResetTime(in); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	if _, err := parseResetTime("2023-11-14T22:13:20.000"); err != nil {
		t.Errorf("Kafka's local format: %v", err)
	}
}
