package cli

// queue.go implements `sluice queue` (create, list, stats, purge, delete)
// and `sluice dlq` (list, peek, redrive) through the SQS API with
// aws-sdk-go-v2, so that they work against a running Sluice broker — and,
// given AWS credentials and an endpoint, against Amazon SQS. Broker errors
// are shown in SQS's own terms (QueueDoesNotExist, InvalidAttributeValue …)
// with the broker's message.
//
// dlq redrive without a filter starts a message move task
// (StartMessageMoveTask) and follows it. With a filter (--match-body,
// --match-attr, --match-error, --older-than) or with --dry-run, the CLI
// scans the DLQ itself: it receives every
// message (holding each invisible until the scan ends, so that each is seen
// once), moves the matching ones (send to the destination, then delete from
// the DLQ) at the --rate limit, and releases the others. Receiving counts
// as a receive (ApproximateReceiveCount grows), as it does in AWS's console.
// On a FIFO DLQ a scan sees only the first message of each message group
// that it holds back, as SQS hands out no later message of a group while
// an earlier one is in flight.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

func init() {
	register("queue", "create, list, inspect, purge and delete SQS queues", runQueue)
	register("dlq", "list, peek into and redrive dead-letter queues", runDLQ)
}

const (
	// envSQSAddr overrides the default SQS endpoint.
	envSQSAddr = "SLUICE_SQS_ADDR"
	// defaultSQSEndpoint is where `sluice serve` listens for SQS clients.
	defaultSQSEndpoint = "http://127.0.0.1:9324"
)

const queueUsage = `usage: sluice queue <command> [flags]

commands:
  create NAME [--attr k=v ...] [--tag k=v ...] [--fifo] [--dlq NAME [--max-receive-count N]]
  list [--prefix P] [--json]
  stats NAME [--json]
  purge NAME
  delete NAME [--if-exists]

NAME is a queue name or URL. Every command also takes --sqs-endpoint URL
(env SLUICE_SQS_ADDR, default http://127.0.0.1:9324) and --timeout (default 30s).
`

const dlqUsage = `usage: sluice dlq <command> [flags]

commands:
  list [--json]                       dead-letter queues, their depth and sources
  peek NAME [--max N] [--match-body REGEX] [--match-attr k=v ...]
            [--match-error REGEX] [--older-than DUR] [--cursor C]
            [--full] [--json] [--via auto|api|sqs]
                                      show messages without removing them, with
                                      their diagnostics (last error, attempts,
                                      source); through the broker's admin API
                                      (--http-addr, env SLUICE_HTTP_ADDR, default
                                      127.0.0.1:9080; --token/--basic), which
                                      neither leases them nor counts a receive.
                                      --via sqs (Amazon SQS, or no HTTP listener)
                                      receives and releases them instead, bumping
                                      receive counts; auto (default) does so only
                                      when nothing listens at --http-addr
  redrive NAME [--to QUEUE] [--match-body REGEX] [--match-attr k=v ...]
               [--match-error REGEX] [--older-than DUR]
               [--dry-run] [--rate N] [--no-wait]
                                      move messages back (all, or those matching:
                                      --match-error on the last_error of the
                                      sluice-diagnostics attribute, --older-than
                                      on its last_attempt, else the send time)

Every command also takes --sqs-endpoint URL (env SLUICE_SQS_ADDR, default
http://127.0.0.1:9324) and --timeout (default 30s; redrive scans are not bounded by it).
`

// sqsFlags are the connection flags of the SQS subcommands.
type sqsFlags struct {
	endpoint string
	timeout  time.Duration
}

func (f *sqsFlags) register(fs *flag.FlagSet) {
	def := defaultSQSEndpoint
	if v := strings.TrimSpace(os.Getenv(envSQSAddr)); v != "" {
		def = v
	}
	fs.StringVar(&f.endpoint, "sqs-endpoint", def, "SQS endpoint URL (env "+envSQSAddr+")")
	fs.DurationVar(&f.timeout, "timeout", adminTimeout, "give up on the broker after this long")
}

// client builds an SQS client for the endpoint. Credentials come from
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when set (Sluice does not check
// signatures yet; Amazon SQS does), the region from AWS_REGION or
// AWS_DEFAULT_REGION (default us-east-1).
func (f *sqsFlags) client() (*sqs.Client, error) {
	ep := strings.TrimSpace(f.endpoint)
	if ep == "" {
		return nil, errors.New("cli: --sqs-endpoint is empty")
	}
	if !strings.Contains(ep, "://") {
		ep = "http://" + ep
	}
	key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		key, secret = "sluice", "sluice"
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN")),
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(ep) }), nil
}

// sqsErr renders an SQS error as CODE: message.
func sqsErr(what string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("cli: %s: %s: %s", what, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("cli: %s: %w", what, err)
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

// resolveQueue returns the URL of a queue given by name or URL.
func resolveQueue(ctx context.Context, cl *sqs.Client, nameOrURL string) (string, error) {
	if strings.Contains(nameOrURL, "://") {
		return nameOrURL, nil
	}
	out, err := cl.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
	if err != nil {
		return "", sqsErr("queue "+nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// nameFromURL is the last path segment of a queue URL (or ARN).
func nameFromURL(u string) string {
	if i := strings.LastIndexAny(u, "/:"); i >= 0 {
		return u[i+1:]
	}
	return u
}

// subcommand runs one `queue`/`dlq` subcommand from a table.
type subcommand func(ctx context.Context, args []string, stdout, stderr io.Writer) error

func dispatch(group, usage string, cmds map[string]subcommand, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return fmt.Errorf("cli: %s: missing command", group)
		}
		return nil
	}
	fn, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("cli: %s: unknown command %q", group, args[0])
	}
	return fn(ctx, args[1:], stdout, stderr)
}

func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch("queue", queueUsage, map[string]subcommand{
		"create": queueCreate, "list": queueList, "ls": queueList, "stats": queueStats,
		"purge": queuePurge, "delete": queueDelete, "rm": queueDelete,
	}, ctx, args, stdout, stderr)
}

func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return dispatch("dlq", dlqUsage, map[string]subcommand{
		"list": dlqList, "ls": dlqList, "peek": dlqPeek, "redrive": dlqRedrive,
	}, ctx, args, stdout, stderr)
}

// setup parses flags and builds the client; want is the number of
// positional arguments (-1: any).
func setup(ctx context.Context, fs *flag.FlagSet, conn *sqsFlags, args []string, want int, what string) ([]string, *sqs.Client, context.Context, context.CancelFunc, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if want >= 0 && len(pos) != want {
		fs.Usage()
		return nil, nil, nil, nil, fmt.Errorf("cli: %s: want %d argument(s), got %d", what, want, len(pos))
	}
	cl, err := conn.client()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, conn.timeout)
	return pos, cl, ctx, cancel, nil
}

func queueCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn       sqsFlags
		attrs      stringList
		tags       stringList
		fifo       bool
		dlq        string
		maxReceive int
		asJSON     bool
	)
	fs := newFlagSet("queue create", "sluice queue create NAME [flags]", stderr)
	conn.register(fs)
	fs.Var(&attrs, "attr", "queue attribute Name=value (repeatable), e.g. VisibilityTimeout=60")
	fs.Var(&tags, "tag", "tag key=value (repeatable)")
	fs.BoolVar(&fifo, "fifo", false, "create a FIFO queue (the name must end in .fifo)")
	fs.StringVar(&dlq, "dlq", "", "dead-letter queue (name or URL) for messages received too often")
	fs.IntVar(&maxReceive, "max-receive-count", 5, "with --dlq: receives before a message moves to the DLQ")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	pos, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 1, "queue create")
	if err != nil {
		return err
	}
	defer cancel()
	name := pos[0]
	am, err := parseKV(attrs, "--attr")
	if err != nil {
		return err
	}
	tm, err := parseKV(tags, "--tag")
	if err != nil {
		return err
	}
	if fifo {
		am["FifoQueue"] = "true"
	}
	if dlq != "" {
		if maxReceive < 1 || maxReceive > 1000 {
			return fmt.Errorf("cli: queue create: --max-receive-count %d: want 1 to 1000", maxReceive)
		}
		arn, err := queueARN(ctx, cl, dlq)
		if err != nil {
			return err
		}
		am["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, arn, maxReceive)
	}
	in := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if len(am) > 0 {
		in.Attributes = am
	}
	if len(tm) > 0 {
		in.Tags = tm
	}
	out, err := cl.CreateQueue(ctx, in)
	if err != nil {
		return sqsErr("queue create "+name, err)
	}
	if asJSON {
		return writeJSON(stdout, map[string]string{"queue": name, "url": aws.ToString(out.QueueUrl)})
	}
	fmt.Fprintf(stdout, "Created queue %s: %s\n", name, aws.ToString(out.QueueUrl))
	return nil
}

func queueARN(ctx context.Context, cl *sqs.Client, nameOrURL string) (string, error) {
	u, err := resolveQueue(ctx, cl, nameOrURL)
	if err != nil {
		return "", err
	}
	out, err := cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", sqsErr("queue "+nameOrURL, err)
	}
	return out.Attributes["QueueArn"], nil
}

// allQueueURLs lists every queue (following NextToken).
func allQueueURLs(ctx context.Context, cl *sqs.Client, prefix string) ([]string, error) {
	var urls []string
	in := &sqs.ListQueuesInput{MaxResults: aws.Int32(1000)}
	if prefix != "" {
		in.QueueNamePrefix = aws.String(prefix)
	}
	for {
		out, err := cl.ListQueues(ctx, in)
		if err != nil {
			return nil, sqsErr("list queues", err)
		}
		urls = append(urls, out.QueueUrls...)
		if out.NextToken == nil || *out.NextToken == "" {
			return urls, nil
		}
		in.NextToken = out.NextToken
	}
}

// queueRow is one queue in `queue list` and `dlq list`.
type queueRow struct {
	Name     string   `json:"name"`
	URL      string   `json:"url"`
	FIFO     bool     `json:"fifo"`
	Visible  int64    `json:"visible"`
	InFlight int64    `json:"in_flight"`
	Delayed  int64    `json:"delayed"`
	Sources  []string `json:"sources,omitempty"`
}

func depthOf(ctx context.Context, cl *sqs.Client, u string) (queueRow, error) {
	r := queueRow{Name: nameFromURL(u), URL: u}
	out, err := cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed, types.QueueAttributeNameFifoQueue,
	}})
	if err != nil {
		return r, err
	}
	a := out.Attributes
	r.Visible, _ = strconv.ParseInt(a["ApproximateNumberOfMessages"], 10, 64)
	r.InFlight, _ = strconv.ParseInt(a["ApproximateNumberOfMessagesNotVisible"], 10, 64)
	r.Delayed, _ = strconv.ParseInt(a["ApproximateNumberOfMessagesDelayed"], 10, 64)
	r.FIFO = a["FifoQueue"] == "true"
	return r, nil
}

func queueList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn   sqsFlags
		prefix string
		asJSON bool
	)
	fs := newFlagSet("queue list", "sluice queue list [flags]", stderr)
	conn.register(fs)
	fs.StringVar(&prefix, "prefix", "", "only queues whose name starts with this")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	_, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 0, "queue list")
	if err != nil {
		return err
	}
	defer cancel()
	urls, err := allQueueURLs(ctx, cl, prefix)
	if err != nil {
		return err
	}
	rows := make([]queueRow, 0, len(urls))
	for _, u := range urls {
		r, err := depthOf(ctx, cl, u)
		if err != nil {
			if isCode(err, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist") {
				continue // deleted meanwhile
			}
			return sqsErr("queue "+r.Name, err)
		}
		rows = append(rows, r)
	}
	if asJSON {
		return writeJSON(stdout, rows)
	}
	return printQueueRows(stdout, rows, false)
}

func printQueueRows(w io.Writer, rows []queueRow, sources bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "QUEUE\tTYPE\tVISIBLE\tIN-FLIGHT\tDELAYED"
	if sources {
		head += "\tSOURCES"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		typ := "standard"
		if r.FIFO {
			typ = "fifo"
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s", r.Name, typ, formatCount(r.Visible), formatCount(r.InFlight), formatCount(r.Delayed))
		if sources {
			line += "\t" + strings.Join(r.Sources, ",")
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func queueStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn   sqsFlags
		asJSON bool
	)
	fs := newFlagSet("queue stats", "sluice queue stats NAME [flags]", stderr)
	conn.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 1, "queue stats")
	if err != nil {
		return err
	}
	defer cancel()
	u, err := resolveQueue(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	out, err := cl.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		return sqsErr("queue stats "+pos[0], err)
	}
	tags, err := cl.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: aws.String(u)})
	if err != nil {
		return sqsErr("queue stats "+pos[0], err)
	}
	if asJSON {
		return writeJSON(stdout, map[string]any{"queue": nameFromURL(u), "url": u, "attributes": out.Attributes, "tags": tags.Tags})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Queue\t%s\nURL\t%s\n", nameFromURL(u), u)
	for _, k := range sortedKeys(out.Attributes) {
		v := out.Attributes[k]
		if k == "CreatedTimestamp" || k == "LastModifiedTimestamp" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				v += " (" + time.Unix(n, 0).UTC().Format(time.RFC3339) + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	for _, k := range sortedKeys(tags.Tags) {
		fmt.Fprintf(tw, "tag %s\t%s\n", k, tags.Tags[k])
	}
	return tw.Flush()
}

func queuePurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var conn sqsFlags
	fs := newFlagSet("queue purge", "sluice queue purge NAME [flags]", stderr)
	conn.register(fs)
	pos, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 1, "queue purge")
	if err != nil {
		return err
	}
	defer cancel()
	u, err := resolveQueue(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	if _, err := cl.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
		return sqsErr("queue purge "+pos[0], err)
	}
	fmt.Fprintf(stdout, "Purged queue %s.\n", nameFromURL(u))
	return nil
}

func queueDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn     sqsFlags
		ifExists bool
	)
	fs := newFlagSet("queue delete", "sluice queue delete NAME [flags]", stderr)
	conn.register(fs)
	fs.BoolVar(&ifExists, "if-exists", false, "succeed if the queue does not exist")
	pos, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 1, "queue delete")
	if err != nil {
		return err
	}
	defer cancel()
	u, err := resolveQueue(ctx, cl, pos[0])
	if err == nil {
		_, err = cl.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		if err != nil {
			err = sqsErr("queue delete "+pos[0], err)
		}
	}
	if err != nil {
		if ifExists && strings.Contains(err.Error(), "NonExistentQueue") {
			fmt.Fprintf(stderr, "Queue %s does not exist.\n", pos[0])
			return nil
		}
		return err
	}
	fmt.Fprintf(stdout, "Deleted queue %s.\n", nameFromURL(u))
	return nil
}

func dlqList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn   sqsFlags
		asJSON bool
	)
	fs := newFlagSet("dlq list", "sluice dlq list [flags]", stderr)
	conn.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	_, cl, ctx, cancel, err := setup(ctx, fs, &conn, args, 0, "dlq list")
	if err != nil {
		return err
	}
	defer cancel()
	urls, err := allQueueURLs(ctx, cl, "")
	if err != nil {
		return err
	}
	rows := []queueRow{}
	for _, u := range urls {
		srcs, err := cl.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(u)})
		if err != nil {
			if isCode(err, "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist") {
				continue
			}
			return sqsErr("dlq list", err)
		}
		if len(srcs.QueueUrls) == 0 {
			continue
		}
		r, err := depthOf(ctx, cl, u)
		if err != nil {
			return sqsErr("dlq list", err)
		}
		for _, s := range srcs.QueueUrls {
			r.Sources = append(r.Sources, nameFromURL(s))
		}
		rows = append(rows, r)
	}
	if asJSON {
		return writeJSON(stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No dead-letter queues (no queue has a RedrivePolicy).")
		return nil
	}
	return printQueueRows(stdout, rows, true)
}
