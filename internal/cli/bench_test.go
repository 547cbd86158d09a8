package cli

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchLine parses the one key=value line a bench prints on stdout.
func benchLine(t *testing.T, stdout string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 1 {
		t.Fatalf("want exactly one stdout line, got:\n%s", stdout)
	}
	kv := map[string]string{}
	for f := range strings.FieldsSeq(lines[0]) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("field %q is not key=value in %q", f, lines[0])
		}
		kv[k] = v
	}
	return kv
}

func num(t *testing.T, kv map[string]string, key string) float64 {
	t.Helper()
	v, ok := kv[key]
	if !ok {
		t.Fatalf("no %s in %v", key, kv)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, v, err)
	}
	return f
}

func TestBenchProduceThenConsume(t *testing.T) {
	noLeaks(t)
	b := startBroker(t)
	dir := t.TempDir()
	r := sluice(t, "bench", "produce", "--topic", "perf", "--records", "3000", "--record-size", "64", "--partitions", "2",
		"--linger", "1ms", "--baseline", "--data-dir", dir, "--disk-duration", "200ms", "-b", b).ok(t)
	kv := benchLine(t, r.stdout)
	if kv["bench"] != "produce" || kv["topic"] != "perf" || kv["acks"] != "all" || kv["compression"] != "none" {
		t.Fatalf("line: %v", kv)
	}
	if num(t, kv, "records") != 3000 || num(t, kv, "failed") != 0 || num(t, kv, "bytes") != 3000*64 {
		t.Fatalf("counts: %v", kv)
	}
	p50, p99, p999, mx := num(t, kv, "p50_ms"), num(t, kv, "p99_ms"), num(t, kv, "p999_ms"), num(t, kv, "max_ms")
	if p50 <= 0 || p50 > p99 || p99 > p999 || p999 > mx {
		t.Fatalf("latencies not ordered: p50 %v p99 %v p999 %v max %v", p50, p99, p999, mx)
	}
	if num(t, kv, "records_per_sec") <= 0 || num(t, kv, "mb_per_sec") <= 0 {
		t.Fatalf("rates: %v", kv)
	}
	if num(t, kv, "disk_write_size") <= 64 || num(t, kv, "disk_mb_per_sec") <= 0 || num(t, kv, "produce_vs_disk") <= 0 {
		t.Fatalf("baseline: %v", kv)
	}
	mustContain(t, r.stderr, "3000 records sent", "ms 99.9th")
	// The disk measurement cleans up after itself.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %d files in the data dir", len(ents))
	}
	r = sluice(t, "topic", "describe", "perf", "-b", b).ok(t)
	mustContain(t, r.stdout, "Partitions: 2")

	r = sluice(t, "bench", "consume", "--topic", "perf", "-b", b).ok(t)
	kv = benchLine(t, r.stdout)
	if kv["bench"] != "consume" || num(t, kv, "records") != 3000 || num(t, kv, "bytes") != 3000*64 || num(t, kv, "mb_per_sec") <= 0 {
		t.Fatalf("consume line: %v", kv)
	}
	// Asking for more than there is ends at the idle timeout, non-zero.
	r = sluice(t, "bench", "consume", "--topic", "perf", "--records", "3001", "--timeout", "300ms", "-b", b)
	r.fails(t, "read 3000 of 3001")
	if kv = benchLine(t, r.stdout); num(t, kv, "records") != 3000 {
		t.Fatalf("short consume line: %v", kv)
	}
}

func TestBenchProduceThrottleAndAcks(t *testing.T) {
	b := startBroker(t)
	start := time.Now()
	r := sluice(t, "bench", "produce", "--topic", "slow", "--records", "300", "--record-size", "10", "--throughput", "1000",
		"--acks", "1", "--compression", "lz4", "--reporting-interval", "100ms", "-b", b).ok(t)
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("300 records at 1000/s took only %s", el)
	}
	kv := benchLine(t, r.stdout)
	if num(t, kv, "records") != 300 || kv["acks"] != "1" || kv["compression"] != "lz4" || num(t, kv, "records_per_sec") > 1300 {
		t.Fatalf("line: %v", kv)
	}
	// At least one progress line besides the final summary.
	if n := strings.Count(r.stderr, "records sent,"); n < 2 {
		t.Fatalf("no progress line:\n%s", r.stderr)
	}
}

func TestBenchDisk(t *testing.T) {
	dir := t.TempDir()
	r := sluice(t, "bench", "disk", "--data-dir", dir, "--write-size", "65536", "--bytes", "1048576").ok(t)
	kv := benchLine(t, r.stdout)
	if kv["bench"] != "disk" || num(t, kv, "writes") != 16 || num(t, kv, "bytes") != 1<<20 || num(t, kv, "mb_per_sec") <= 0 {
		t.Fatalf("line: %v", kv)
	}
	if num(t, kv, "sync_p50_ms") > num(t, kv, "sync_max_ms") {
		t.Fatalf("p50 above max: %v", kv)
	}
	sluice(t, "bench", "disk", "--data-dir", dir+"/missing").fails(t, "--data-dir")
}

func TestBenchUsageErrors(t *testing.T) {
	const b = "127.0.0.1:1"
	sluice(t, "bench").fails(t, "missing command")
	sluice(t, "bench", "fly").fails(t, "unknown command")
	sluice(t, "bench", "produce", "--records", "0", "-b", b).fails(t, "--records")
	sluice(t, "bench", "produce", "--throughput", "0", "-b", b).fails(t, "--throughput")
	sluice(t, "bench", "produce", "--acks", "two", "-b", b).fails(t, "--acks")
	sluice(t, "bench", "produce", "--baseline", "--data-dir", "/nonexistent/dir", "-b", b).fails(t, "--data-dir")
	sluice(t, "bench", "consume", "--records", "0", "-b", b).fails(t, "--records")
}

func TestHistogramBuckets(t *testing.T) {
	// Buckets are contiguous and non-decreasing, and each mid-point lies in its
	// bucket within the promised relative error.
	prev := -1
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64} {
		i := histBucket(v)
		if i < prev || i >= len(latencyHist{}.counts) {
			t.Fatalf("bucket(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if mid := histMid(i); math.Abs(mid-float64(v)) > float64(v)/32+1 {
			t.Fatalf("mid %v too far from %d", mid, v)
		}
	}
	for v := uint64(0); v < 5000; v++ {
		if histBucket(v+1) < histBucket(v) || histBucket(v+1)-histBucket(v) > 1 {
			t.Fatalf("buckets jump at %d", v)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h latencyHist
	rng := rand.New(rand.NewPCG(7, 7))
	vals := make([]time.Duration, 20000)
	for i := range vals {
		vals[i] = time.Duration(rng.ExpFloat64() * float64(2*time.Millisecond))
		h.record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := float64(vals[int(q*float64(len(vals)))-1]) / 1e6
		got := h.quantileMs(q)
		if math.Abs(got-exact) > exact*0.04+0.002 {
			t.Fatalf("q%v: got %.4f ms, exact %.4f ms", q, got, exact)
		}
	}
	if h.maxMs() != float64(vals[len(vals)-1])/1e6 {
		t.Fatalf("max %v", h.maxMs())
	}
	var empty latencyHist
	if empty.quantileMs(0.99) != 0 || empty.avgMs() != 0 {
		t.Fatal("empty histogram not zero")
	}
}
