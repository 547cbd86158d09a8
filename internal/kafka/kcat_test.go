package kafka

// librdkafka compatibility through kcat, when it is installed (Debian's
// kcat links librdkafka 2.0). Skipped otherwise.

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/logstore"
)

func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func TestKcatCompat(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed")
	}
	b := newTestBroker(t, func(c *Config) { c.DefaultPartitions = 2 })
	if md := kcat(t, "", "-b", b.Addr, "-L"); !strings.Contains(md, "1 brokers:") {
		t.Fatalf("kcat -L:\n%s", md)
	}
	for _, tc := range []struct {
		codec string
		attr  int16
		extra []string
	}{
		{"none", 0, nil},
		{"gzip", 1, nil},
		{"snappy", 2, []string{"-X", "enable.idempotence=true"}},
		{"lz4", 3, nil},
		{"zstd", 4, []string{"-X", "enable.idempotence=true"}},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			topicName := "kcat-" + tc.codec
			var lines []string
			for i := 0; i < 200; i++ {
				// Long, repetitive values: librdkafka sends a batch
				// uncompressed when compressing makes it larger, which a
				// batch of one short record (a linger that ran out under
				// load) would.
				lines = append(lines, fmt.Sprintf("line %d %s", i, strings.Repeat("x", 200+i%50)))
			}
			in := strings.Join(lines, "\n") + "\n"
			// A generous linger keeps the 200 lines in few batches even on a
			// loaded machine.
			args := append([]string{"-b", tc.codec, "-P", "-t", topicName, "-p", "0", "-z", tc.codec, "-X", "queue.buffering.max.ms=100"}, tc.extra...)
			args[1] = b.Addr
			kcat(t, in, args...)
			tp := b.Topics.Get(topicName)
			if tp == nil || tp.Partition(0).HighWatermark() != 200 {
				t.Fatalf("topic %s not auto-created with 200 records", topicName)
			}
			// librdkafka compressed (it only does when Produce v0 is
			// advertised, KAFKA-18659) and the batch is stored as sent.
			chunk, err := tp.Partition(0).Read(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := chunk.AppendTo(nil)
			chunk.Release()
			h, err := logstore.ParseBatchHeader(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.attr
			if tc.codec == "lz4" {
				// librdkafka 2.0 ties LZ4 to FindCoordinator v0 being
				// advertised (it dates LZ4 support by that API).
				if h := handlers[10]; h == nil || h.MinVersion > 0 {
					want = 0
				}
			}
			if h.Attributes&7 != want {
				t.Fatalf("stored codec %d, want %d", h.Attributes&7, want)
			}
			out := kcat(t, "", "-b", b.Addr, "-C", "-t", topicName, "-p", "0", "-o", "beginning", "-e", "-q")
			if out != in {
				t.Fatalf("consumed:\n%.300s\nwant:\n%.300s", out, in)
			}
		})
	}
	// Offsets by timestamp (ListOffsets) through librdkafka.
	if out := kcat(t, "", "-b", b.Addr, "-Q", "-t", "kcat-none:0:0"); !strings.Contains(out, "offset 0") {
		t.Fatalf("kcat -Q: %s", out)
	}
}
