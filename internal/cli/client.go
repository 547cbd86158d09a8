package cli

// client.go holds what the Kafka-client subcommands (topic, produce, consume,
// bench) share: the connection flags, franz-go client construction, flag
// parsing that allows flags after positional arguments, and the parsing of
// Kafka-named settings such as acks and compression.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// envKafkaAddr overrides the default bootstrap address, so that scripts
	// can point every subcommand at a broker once.
	envKafkaAddr = "SLUICE_KAFKA_ADDR"
	// defaultKafkaAddr is where `sluice serve` listens for Kafka clients by
	// default.
	defaultKafkaAddr = "127.0.0.1:9092"
	// cliClientID is the Kafka client.id the CLI announces, so broker logs
	// and metrics can tell it apart from applications.
	cliClientID = "sluice-cli"
)

// connFlags are the connection flags of every Kafka-client subcommand.
type connFlags struct {
	bootstrap string        // comma-separated host:port list
	timeout   time.Duration // per-operation deadline for admin requests
}

// register adds --bootstrap (alias -b, as in kcat) to fs. The default comes
// from $SLUICE_KAFKA_ADDR when set, otherwise 127.0.0.1:9092.
func (c *connFlags) register(fs *flag.FlagSet) {
	def := defaultKafkaAddr
	if v := strings.TrimSpace(os.Getenv(envKafkaAddr)); v != "" {
		def = v
	}
	usage := "Kafka bootstrap address(es), comma separated (env " + envKafkaAddr + ")"
	fs.StringVar(&c.bootstrap, "bootstrap", def, usage)
	fs.StringVar(&c.bootstrap, "b", def, "shorthand for --bootstrap")
}

// registerTimeout adds --timeout for commands whose requests should give up
// rather than retry forever against an unreachable broker.
func (c *connFlags) registerTimeout(fs *flag.FlagSet, def time.Duration) {
	c.timeout = def
	fs.DurationVar(&c.timeout, "timeout", def, "give up on the broker after this long")
}

func (c *connFlags) seeds() ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(c.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("cli: --bootstrap is empty")
	}
	return out, nil
}

// newClient builds a franz-go client for the configured brokers. The dial
// timeout is short because the CLI talks to a local broker in the common case
// and an unreachable one should be reported promptly.
func (c *connFlags) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := c.seeds()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(cliClientID),
		kgo.DialTimeout(5 * time.Second),
	}
	if c.timeout > 0 {
		// Retrying past the command's own deadline would only hide the
		// real error behind "context deadline exceeded".
		opts = append(opts, kgo.RetryTimeout(c.timeout))
	}
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("cli: kafka client: %w", err)
	}
	return cl, nil
}

// newAdmin returns an admin client and the underlying client to close.
func (c *connFlags) newAdmin() (*kadm.Client, *kgo.Client, error) {
	cl, err := c.newClient()
	if err != nil {
		return nil, nil, err
	}
	adm := kadm.NewClient(cl)
	if c.timeout > 0 {
		adm.SetTimeoutMillis(int32(min(c.timeout.Milliseconds(), 1<<31-1)))
	}
	return adm, cl, nil
}

// adminSession is the preamble of every admin command: an admin client and
// a context bounded by --timeout. done closes both.
func (c *connFlags) adminSession(ctx context.Context) (context.Context, *kadm.Client, func(), error) {
	adm, cl, err := c.newAdmin()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	return ctx, adm, func() { cancel(); cl.Close() }, nil
}

// newFlagSet returns a flag set that reports to stderr and returns errors
// instead of exiting, with a usage header naming the command.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// boolFlag is the interface the flag package uses to know that a flag takes
// no value.
type boolFlag interface{ IsBoolFlag() bool }

// parseArgs parses fs from args while allowing flags to follow positional
// arguments (`sluice topic create NAME --partitions 3`), which Go's flag
// package alone does not. "--" ends flag parsing; "-" alone is positional.
// It returns the positional arguments in order.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		// A flag that takes a value consumes the next argument even if
		// it starts with '-' (--from -10, --key-separator --).
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(boolFlag); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

// stringList is a repeatable string flag (--config a=1 --config b=2).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseKV parses "k=v" items into a map; the same key twice is an error
// because one of the two would be silently lost.
func parseKV(items []string, what string) (map[string]string, error) {
	out := make(map[string]string, len(items))
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("cli: %s %q: want key=value", what, it)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("cli: %s %q given twice", what, k)
		}
		out[k] = v
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseAcks maps Kafka's acks setting to franz-go. Anything but acks=all
// requires disabling idempotence, as in the Java producer.
func parseAcks(s string) ([]kgo.Opt, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, nil
	case "1", "leader":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, nil
	case "0", "none":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, nil
	}
	return nil, fmt.Errorf("cli: --acks %q: want all, 1 or 0", s)
}

// parseCompression maps Kafka's compression.type names to franz-go codecs.
func parseCompression(s string) (kgo.Opt, error) {
	var c kgo.CompressionCodec
	switch strings.ToLower(s) {
	case "none", "":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("cli: --compression %q: want none, gzip, snappy, lz4 or zstd", s)
	}
	return kgo.ProducerBatchCompression(c), nil
}

// kafkaErr decorates a broker error with the broker's free-text message when
// it adds something: kerr errors print as "TOPIC_ALREADY_EXISTS: The topic
// has already been created.", and the message usually names the culprit.
func kafkaErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w (%s)", err, msg)
	}
	return err
}

// isTerminal reports whether w is a character device such as a terminal.
// Only *os.File can be one; buffers and pipes are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parsePartition validates a --partition value (-1 means all partitions).
func parsePartition(n int) (int32, error) {
	if n < -1 || n > 1<<31-1 {
		return 0, fmt.Errorf("cli: --partition %d out of range", n)
	}
	return int32(n), nil
}

// formatCount renders n with thousands separators for human summaries.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
