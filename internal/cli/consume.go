package cli

// consume.go implements `sluice consume TOPIC`: print records of a topic, in
// the manner of kafka-console-consumer and kcat -C.
//
// It reads partitions directly (no consumer group, nothing committed).
// --from defaults to "end", as kafka-console-consumer's default of latest:
// the command tails new records; --from beginning replays the topic.
//
// Output is one record per --format expansion (kcat's format language, see
// formatHelp) or, with --json, one JSON object per line. It stops after -n
// records, after --timeout without a record, or on SIGINT, in every case
// with exit status 0 and everything printed flushed.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register("consume", "print records of a topic", runConsume)
}

const formatHelp = `output format (as kcat -f): %t topic, %p partition, %o offset,
%k key, %v value (%s also), %T timestamp (Unix ms), %h headers (k=v,k=v),
%K key length (-1 for a null key), %S value length (-1 for null), %% a '%';
escapes \n \t \r \\ . Default "%v\n".`

func runConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn      connFlags
		from      string
		partition int
		count     int64
		format    string
		asJSON    bool
		idle      time.Duration
		quiet     bool
	)
	fs := newFlagSet("consume", "sluice consume TOPIC [flags]", stderr)
	conn.register(fs)
	fs.StringVar(&from, "from", "end", "where to start in each partition: beginning, end, an offset N, -N (N before the end) or @UNIX_MS / RFC 3339 time")
	fs.StringVar(&from, "o", "end", "shorthand for --from")
	fs.IntVar(&partition, "partition", -1, "consume only this partition (-1: all)")
	fs.IntVar(&partition, "p", -1, "shorthand for --partition")
	fs.Int64Var(&count, "n", 0, "stop after N records (0: no limit)")
	fs.Int64Var(&count, "count", 0, "same as -n")
	fs.StringVar(&format, "format", `%v\n`, formatHelp)
	fs.StringVar(&format, "f", `%v\n`, "shorthand for --format")
	fs.BoolVar(&asJSON, "json", false, "print each record as one JSON object per line")
	fs.DurationVar(&idle, "timeout", 0, "exit when no record arrives for this long (0: wait forever)")
	fs.BoolVar(&quiet, "quiet", false, "do not print the record count on exit")
	fs.BoolVar(&quiet, "q", false, "shorthand for --quiet")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cli: consume: want exactly one topic")
	}
	topic := pos[0]
	part, err := parsePartition(partition)
	if err != nil {
		return err
	}
	if count < 0 {
		return fmt.Errorf("cli: consume: -n %d: want 0 or more", count)
	}
	if idle < 0 {
		return fmt.Errorf("cli: consume: --timeout %s: want 0 or more", idle)
	}
	start, err := parseFrom(from)
	if err != nil {
		return err
	}
	var ops []fmtOp
	if !asJSON {
		if ops, err = compileFormat(format); err != nil {
			return err
		}
	}

	// Check the topic (and partition) first: a direct consumer of a topic
	// that does not exist would otherwise wait silently for it forever.
	if err := checkTopic(ctx, &conn, topic, part); err != nil {
		return err
	}
	opts := []kgo.Opt{kgo.ConsumeStartOffset(start)}
	if part >= 0 {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: start}}))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topic))
	}
	cl, err := conn.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriterSize(stdout, 64<<10)
	pr := recordPrinter{ops: ops, json: asJSON, w: out}
	var printed int64
	var stopErr error
poll:
	for count == 0 || printed < count {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			pollCtx, cancel = context.WithTimeout(ctx, idle)
		}
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			break // interrupted: a clean stop
		}
		for _, fe := range fetches.Errors() {
			switch {
			case errors.Is(fe.Err, context.DeadlineExceeded) && idle > 0:
				break poll // idle for --timeout
			case errors.Is(fe.Err, context.Canceled), errors.Is(fe.Err, kgo.ErrClientClosed):
				break poll
			case errors.Is(fe.Err, kerr.UnknownTopicOrPartition):
				stopErr = fmt.Errorf("cli: consume %s: %w", topic, fe.Err)
				break poll
			default:
				fmt.Fprintf(stderr, "cli: consume %s[%d]: %v\n", fe.Topic, fe.Partition, fe.Err)
			}
		}
		for it := fetches.RecordIter(); !it.Done() && (count == 0 || printed < count); {
			if err := pr.print(it.Next()); err != nil {
				return fmt.Errorf("cli: consume: writing output: %w", err)
			}
			printed++
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("cli: consume: writing output: %w", err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("cli: consume: writing output: %w", err)
	}
	if !quiet {
		fmt.Fprintf(stderr, "Consumed %s record%s.\n", formatCount(printed), plural(printed))
	}
	return stopErr
}

// checkTopic fails with UNKNOWN_TOPIC_OR_PARTITION, in Kafka's words, when
// the topic or the requested partition does not exist.
func checkTopic(ctx context.Context, conn *connFlags, topic string, part int32) error {
	c := *conn
	c.timeout = adminTimeout
	adm, cl, err := c.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	details, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return fmt.Errorf("cli: topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	switch {
	case !ok:
		return fmt.Errorf("cli: topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	case d.Err != nil:
		return fmt.Errorf("cli: topic %s: %w", topic, d.Err)
	case part >= 0:
		if _, ok := d.Partitions[part]; !ok {
			return fmt.Errorf("cli: topic %s has no partition %d (it has %d): %w", topic, part, len(d.Partitions), kerr.UnknownTopicOrPartition)
		}
	}
	return nil
}

// parseFrom turns --from into a franz-go start offset. Out-of-range offsets
// are clamped to the log start or end by the client.
func parseFrom(s string) (kgo.Offset, error) {
	o := kgo.NewOffset()
	switch strings.ToLower(s) {
	case "beginning", "earliest", "start", "oldest":
		return o.AtStart(), nil
	case "end", "latest", "newest":
		return o.AtEnd(), nil
	}
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		if ms, err := strconv.ParseInt(rest, 10, 64); err == nil {
			return o.AfterMilli(ms), nil
		}
		t, err := time.Parse(time.RFC3339Nano, rest)
		if err != nil {
			return o, fmt.Errorf("cli: --from %q: want @UNIX_MS or @RFC3339 time", s)
		}
		return o.AfterMilli(t.UnixMilli()), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if t, terr := time.Parse(time.RFC3339Nano, s); terr == nil {
			return o.AfterMilli(t.UnixMilli()), nil
		}
		return o, fmt.Errorf("cli: --from %q: want beginning, end, N, -N or @time", s)
	}
	if n < 0 {
		return o.AtEnd().Relative(n), nil
	}
	return o.At(n), nil
}

// fmtOp is one compiled piece of a --format: literal text or a field.
type fmtOp struct {
	lit   string
	field byte // 0 for a literal
}

// compileFormat parses a kcat-style format once, so printing does no
// parsing per record.
func compileFormat(f string) ([]fmtOp, error) {
	var ops []fmtOp
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ops = append(ops, fmtOp{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch c {
		case '\\':
			if i+1 >= len(f) {
				return nil, fmt.Errorf("cli: --format %q: trailing backslash", f)
			}
			i++
			switch f[i] {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case 'r':
				lit.WriteByte('\r')
			case '\\':
				lit.WriteByte('\\')
			case '0':
				lit.WriteByte(0)
			default:
				return nil, fmt.Errorf("cli: --format %q: unknown escape \\%c", f, f[i])
			}
		case '%':
			if i+1 >= len(f) {
				return nil, fmt.Errorf("cli: --format %q: trailing %%", f)
			}
			i++
			switch d := f[i]; d {
			case '%':
				lit.WriteByte('%')
			case 't', 'p', 'o', 'k', 'v', 'T', 'h', 'K', 'S':
				flush()
				ops = append(ops, fmtOp{field: d})
			case 's':
				flush()
				ops = append(ops, fmtOp{field: 'v'})
			default:
				return nil, fmt.Errorf("cli: --format %q: unknown field %%%c", f, d)
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return ops, nil
}

// recordPrinter writes records per the compiled format, or as JSON.
type recordPrinter struct {
	ops     []fmtOp
	json    bool
	w       *bufio.Writer
	scratch []byte
}

func (p *recordPrinter) print(r *kgo.Record) error {
	if p.json {
		return p.printJSON(r)
	}
	for _, op := range p.ops {
		b := p.scratch[:0]
		switch op.field {
		case 0:
			p.w.WriteString(op.lit)
			continue
		case 't':
			p.w.WriteString(r.Topic)
			continue
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'k':
			p.w.Write(r.Key)
			continue
		case 'v':
			p.w.Write(r.Value)
			continue
		case 'T':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'K':
			b = strconv.AppendInt(b, nullableLen(r.Key), 10)
		case 'S':
			b = strconv.AppendInt(b, nullableLen(r.Value), 10)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, h.Key...)
				b = append(b, '=')
				b = append(b, h.Value...)
			}
		}
		p.w.Write(b)
		p.scratch = b
	}
	return nil
}

func nullableLen(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}

// jsonRecord is the --json shape. Keys, values and header values are JSON
// strings when they are valid UTF-8; otherwise the *_b64 field carries them
// base64-encoded and the string field is null. A null key is null in both.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	KeyB64    string       `json:"key_b64,omitempty"`
	Value     *string      `json:"value"`
	ValueB64  string       `json:"value_b64,omitempty"`
	Headers   []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key      string  `json:"key"`
	Value    *string `json:"value"`
	ValueB64 string  `json:"value_b64,omitempty"`
}

func jsonBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func (p *recordPrinter) printJSON(r *kgo.Record) error {
	jr := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli()}
	jr.Key, jr.KeyB64 = jsonBytes(r.Key)
	jr.Value, jr.ValueB64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueB64 = jsonBytes(h.Value)
		jr.Headers = append(jr.Headers, jh)
	}
	b, err := json.Marshal(&jr)
	if err != nil {
		return err
	}
	p.w.Write(b)
	return p.w.WriteByte('\n')
}
