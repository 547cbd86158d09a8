package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCompileFormat(t *testing.T) {
	rec := &kgo.Record{
		Topic: "t", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("val"),
		Timestamp: time.UnixMilli(1700000000123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}},
	}
	for _, tc := range []struct{ format, want string }{
		{`%v\n`, "val\n"},
		{`%s`, "val"},
		{`%t/%p/%o %k=%v`, "t/3/42 k=val"},
		{`%T`, "1700000000123"},
		{`%h`, "a=1,b="},
		{`%K %S`, "1 3"},
		{`100%% \t\\\r`, "100% \t\\\r"},
		{`plain`, "plain"},
	} {
		ops, err := compileFormat(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		var sb strings.Builder
		w := bufio.NewWriter(&sb)
		p := recordPrinter{ops: ops, w: w}
		if err := p.print(rec); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if sb.String() != tc.want {
			t.Fatalf("%q: got %q want %q", tc.format, sb.String(), tc.want)
		}
	}
	for _, bad := range []string{`%`, `%x`, `\`, `\q`, `abc%`} {
		if _, err := compileFormat(bad); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}

func TestParseFrom(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"beginning", kgo.NewOffset().AtStart().String()},
		{"earliest", kgo.NewOffset().AtStart().String()},
		{"end", kgo.NewOffset().AtEnd().String()},
		{"latest", kgo.NewOffset().AtEnd().String()},
		{"17", kgo.NewOffset().At(17).String()},
		{"-5", kgo.NewOffset().AtEnd().Relative(-5).String()},
		{"@1700000000000", kgo.NewOffset().AfterMilli(1700000000000).String()},
		{"@2023-11-14T22:13:20Z", kgo.NewOffset().AfterMilli(1700000000000).String()},
	} {
		o, err := parseFrom(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if o.String() != tc.want {
			t.Fatalf("%q: got %s want %s", tc.in, o, tc.want)
		}
	}
	for _, bad := range []string{"", "middle", "@yesterday", "1.5"} {
		if _, err := parseFrom(bad); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}

func TestConsumeJSON(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "js", "-b", b).ok(t)
	withInput(t, "k=hello\n\xff\xfe=bin\n")
	sluice(t, "produce", "js", "-K", "=", "--header", "h=v", "-b", b).ok(t)
	r := sluice(t, "consume", "js", "--from", "beginning", "-n", "2", "--json", "-b", b).ok(t)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines:\n%s", r.stdout)
	}
	var recs []jsonRecord
	for _, l := range lines {
		var jr jsonRecord
		if err := json.Unmarshal([]byte(l), &jr); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		recs = append(recs, jr)
	}
	if r0 := recs[0]; r0.Topic != "js" || r0.Offset != 0 || *r0.Key != "k" || *r0.Value != "hello" ||
		len(r0.Headers) != 1 || r0.Headers[0].Key != "h" || *r0.Headers[0].Value != "v" || r0.Timestamp <= 0 {
		t.Fatalf("record 0: %s", lines[0])
	}
	// A key that is not UTF-8 travels as base64 with a null string form.
	if r1 := recs[1]; r1.Key != nil || r1.KeyB64 != "//4=" || *r1.Value != "bin" || r1.Offset != 1 {
		t.Fatalf("record 1: %s", lines[1])
	}
}

func TestConsumeAllPartitionsAndIdleTimeout(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "multi", "--partitions", "3", "-b", b).ok(t)
	var in strings.Builder
	var want []string
	for i := range 30 {
		v := "key" + string(rune('A'+i%26)) + string(rune('0'+i/26)) + ":v"
		in.WriteString(v + "\n")
		want = append(want, strings.Replace(v, ":", " ", 1))
	}
	withInput(t, in.String())
	// Keys spread the records over the partitions.
	sluice(t, "produce", "multi", "-K", ":", "-b", b).ok(t)

	start := time.Now()
	r := sluice(t, "consume", "multi", "--from", "beginning", "--timeout", "400ms", "--format", `%p %k %v\n`, "-b", b).ok(t)
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("idle timeout took %s", el)
	}
	var got []string
	parts := map[string]bool{}
	for l := range strings.Lines(r.stdout) {
		p, rest, _ := strings.Cut(strings.TrimSuffix(l, "\n"), " ")
		parts[p] = true
		got = append(got, rest)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if len(parts) < 2 {
		t.Fatalf("all records in partitions %v", parts)
	}
	mustContain(t, r.stderr, "Consumed 30 records.")

	// --from -2 per partition: at most 2 from each.
	r = sluice(t, "consume", "multi", "--from", "-2", "--timeout", "400ms", "-q", "-b", b).ok(t)
	if n := strings.Count(r.stdout, "\n"); n != 2*len(parts) {
		t.Fatalf("--from -2 gave %d records over %d partitions", n, len(parts))
	}
	// One partition only.
	r = sluice(t, "consume", "multi", "-p", "1", "--from", "beginning", "--timeout", "400ms", "--format", `%p\n`, "-q", "-b", b).ok(t)
	if strings.Trim(r.stdout, "1\n") != "" {
		t.Fatalf("-p 1 gave records of other partitions: %q", r.stdout)
	}
}

func TestConsumeStopsOnInterrupt(t *testing.T) {
	noLeaks(t)
	b := startBroker(t)
	sluice(t, "topic", "create", "quiet", "-b", b).ok(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	r := sluiceCtx(ctx, t, "consume", "quiet", "-b", b).ok(t)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %s to stop", el)
	}
	mustContain(t, r.stderr, "Consumed 0 records.")
}

func TestConsumeErrors(t *testing.T) {
	b := startBroker(t)
	sluice(t, "topic", "create", "one", "-b", b).ok(t)
	sluice(t, "consume", "nope", "-b", b).fails(t, "UNKNOWN_TOPIC_OR_PARTITION")
	sluice(t, "consume", "one", "-p", "7", "-b", b).fails(t, "no partition 7")
	sluice(t, "consume", "one", "--format", "%z", "-b", b).fails(t, "unknown field")
	sluice(t, "consume", "one", "--from", "soon", "-b", b).fails(t, "--from")
	sluice(t, "consume", "one", "-n", "-1", "-b", b).fails(t, "-n")
}
