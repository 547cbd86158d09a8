package cli

// topic.go implements `sluice topic`: create, list, describe, alter and
// delete topics through the Kafka admin API (kadm), so that it works the same
// against Sluice and against a Kafka cluster. Output is a table for people
// and, with --json, one JSON document for scripts. Broker errors are shown in
// Kafka's own terms (TOPIC_ALREADY_EXISTS, INVALID_CONFIG …) with the broker's
// message.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register("topic", "create, list, describe, alter and delete topics", runTopic)
}

const topicUsage = `usage: sluice topic <command> [flags]

commands:
  create NAME [--partitions N] [--config k=v ...] [--if-not-exists] [--validate-only]
  list [--json]
  describe NAME ... [--json]
  alter NAME [--config k=v ...] [--delete-config k ...] [--partitions N] [--validate-only]
  delete NAME ... [--if-exists]

every command also takes --bootstrap host:port (env SLUICE_KAFKA_ADDR,
default 127.0.0.1:9092) and --timeout (default 30s).
`

// adminTimeout bounds every admin command; the broker answers these in
// milliseconds, so a long wait means it is unreachable.
const adminTimeout = 30 * time.Second

func runTopic(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, topicUsage)
		if len(args) == 0 {
			return errors.New("cli: topic: missing command")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "create":
		return topicCreate(ctx, rest, stdout, stderr)
	case "list", "ls":
		return topicList(ctx, rest, stdout, stderr)
	case "describe":
		return topicDescribe(ctx, rest, stdout, stderr)
	case "alter":
		return topicAlter(ctx, rest, stdout, stderr)
	case "delete", "rm":
		return topicDelete(ctx, rest, stdout, stderr)
	}
	fmt.Fprint(stderr, topicUsage)
	return fmt.Errorf("cli: topic: unknown command %q", cmd)
}

// formatTopicID renders a topic ID the way Kafka's tools do (URL-safe base64
// without padding); the all-zero ID of brokers without IDs prints as "-".
func formatTopicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return "-"
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func topicCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn         connFlags
		partitions   int
		replication  int
		configs      stringList
		ifNotExists  bool
		validateOnly bool
		asJSON       bool
	)
	fs := newFlagSet("topic create", "sluice topic create NAME [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.IntVar(&partitions, "partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	fs.IntVar(&replication, "replication-factor", -1, "replication factor (-1: the broker's default; Sluice has one replica)")
	fs.Var(&configs, "config", "topic config key=value (repeatable), e.g. retention.ms=86400000")
	fs.BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	fs.BoolVar(&validateOnly, "validate-only", false, "ask the broker to validate the request without creating the topic")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cli: topic create: want exactly one topic name")
	}
	name := pos[0]
	if partitions == 0 || partitions < -1 || partitions > 1<<31-1 {
		return fmt.Errorf("cli: topic create: --partitions %d: want a positive count or -1", partitions)
	}
	if replication == 0 || replication < -1 || replication > 1<<15-1 {
		return fmt.Errorf("cli: topic create: --replication-factor %d: want a positive count or -1", replication)
	}
	kv, err := parseKV(configs, "--config")
	if err != nil {
		return err
	}
	cfgPtrs := make(map[string]*string, len(kv))
	for k, v := range kv {
		cfgPtrs[k] = kadm.StringPtr(v)
	}

	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()

	var resps kadm.CreateTopicResponses
	if validateOnly {
		resps, err = adm.ValidateCreateTopics(ctx, int32(partitions), int16(replication), cfgPtrs, name)
	} else {
		resps, err = adm.CreateTopics(ctx, int32(partitions), int16(replication), cfgPtrs, name)
	}
	if err != nil {
		return fmt.Errorf("cli: topic create %q: %w", name, err)
	}
	r, err := resps.On(name, nil)
	if err != nil {
		return fmt.Errorf("cli: topic create %q: no answer for the topic: %w", name, err)
	}
	if r.Err != nil {
		if ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists) {
			fmt.Fprintf(stderr, "Topic %s already exists.\n", name)
			return nil
		}
		return fmt.Errorf("cli: topic create %q: %w", name, kafkaErr(r.Err, r.ErrMessage))
	}
	if asJSON {
		return writeJSON(stdout, map[string]any{
			"topic":              name,
			"id":                 formatTopicID(r.ID),
			"partitions":         r.NumPartitions,
			"replication_factor": r.ReplicationFactor,
			"validate_only":      validateOnly,
		})
	}
	verb := "Created"
	if validateOnly {
		verb = "Validated (not created)"
	}
	if r.NumPartitions > 0 {
		fmt.Fprintf(stdout, "%s topic %s with %d partition%s (id %s).\n", verb, name, r.NumPartitions, plural(int64(r.NumPartitions)), formatTopicID(r.ID))
	} else {
		fmt.Fprintf(stdout, "%s topic %s.\n", verb, name)
	}
	return nil
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

type topicListEntry struct {
	Topic      string `json:"topic"`
	ID         string `json:"id"`
	Partitions int    `json:"partitions"`
	Internal   bool   `json:"internal,omitempty"`
	Error      string `json:"error,omitempty"`
}

func topicList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn     connFlags
		asJSON   bool
		internal bool
	)
	fs := newFlagSet("topic list", "sluice topic list [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.BoolVar(&asJSON, "json", false, "print the topics as a JSON array")
	fs.BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets …)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("cli: topic list: unexpected argument %q", pos[0])
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()

	var details kadm.TopicDetails
	if internal {
		details, err = adm.ListTopicsWithInternal(ctx)
	} else {
		details, err = adm.ListTopics(ctx)
	}
	if err != nil {
		return fmt.Errorf("cli: topic list: %w", err)
	}
	entries := make([]topicListEntry, 0, len(details))
	for _, d := range details.Sorted() {
		e := topicListEntry{Topic: d.Topic, ID: formatTopicID(d.ID), Partitions: len(d.Partitions), Internal: d.IsInternal}
		if d.Err != nil {
			e.Error = d.Err.Error()
		}
		entries = append(entries, e)
	}
	if asJSON {
		return writeJSON(stdout, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(stderr, "No topics.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tID")
	for _, e := range entries {
		id := e.ID
		if e.Error != "" {
			id += " (" + e.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", e.Topic, e.Partitions, id)
	}
	return tw.Flush()
}

type partitionInfo struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"start_offset"`
	EndOffset   int64   `json:"end_offset"`
	Error       string  `json:"error,omitempty"`
}

type configInfo struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

type topicInfo struct {
	Topic      string          `json:"topic"`
	ID         string          `json:"id"`
	Partitions []partitionInfo `json:"partitions"`
	Configs    []configInfo    `json:"configs"`
}

// configSourceName turns a DescribeConfigs source into the short words shown
// in the SOURCE column: where the effective value comes from.
func configSourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "broker"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "cluster"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "broker-static"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return strings.ToLower(s.String())
}

func topicDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn      connFlags
		asJSON    bool
		overrides bool
	)
	fs := newFlagSet("topic describe", "sluice topic describe NAME ... [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.BoolVar(&asJSON, "json", false, "print the description as JSON")
	fs.BoolVar(&overrides, "overrides", false, "show only configs set on the topic itself")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return errors.New("cli: topic describe: want at least one topic name")
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()

	details, err := adm.ListTopicsWithInternal(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: topic describe: %w", err)
	}
	for _, n := range names {
		d, ok := details[n]
		if !ok {
			return fmt.Errorf("cli: topic describe %q: %w", n, kerr.UnknownTopicOrPartition)
		}
		if d.Err != nil {
			return fmt.Errorf("cli: topic describe %q: %w", n, d.Err)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: topic describe: list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: topic describe: list end offsets: %w", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: topic describe: describe configs: %w", err)
	}

	infos := make([]topicInfo, 0, len(names))
	for _, n := range names {
		d := details[n]
		info := topicInfo{Topic: n, ID: formatTopicID(d.ID), Partitions: []partitionInfo{}, Configs: []configInfo{}}
		for _, p := range d.Partitions.Sorted() {
			pi := partitionInfo{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR, StartOffset: -1, EndOffset: -1}
			if p.Err != nil {
				pi.Error = p.Err.Error()
			}
			if o, ok := starts.Lookup(n, p.Partition); ok && o.Err == nil {
				pi.StartOffset = o.Offset
			}
			if o, ok := ends.Lookup(n, p.Partition); ok && o.Err == nil {
				pi.EndOffset = o.Offset
			}
			info.Partitions = append(info.Partitions, pi)
		}
		rc, err := rcs.On(n, nil)
		if err != nil {
			return fmt.Errorf("cli: topic describe %q: no configs in the answer: %w", n, err)
		}
		if rc.Err != nil {
			return fmt.Errorf("cli: topic describe %q: configs: %w", n, kafkaErr(rc.Err, rc.ErrMessage))
		}
		for _, c := range rc.Configs {
			if overrides && c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				continue
			}
			info.Configs = append(info.Configs, configInfo{Name: c.Key, Value: c.Value, Source: configSourceName(c.Source), Sensitive: c.Sensitive})
		}
		infos = append(infos, info)
	}
	if asJSON {
		if len(infos) == 1 {
			return writeJSON(stdout, infos[0])
		}
		return writeJSON(stdout, infos)
	}
	for i, info := range infos {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := printTopicInfo(stdout, info); err != nil {
			return err
		}
	}
	return nil
}

func printTopicInfo(w io.Writer, info topicInfo) error {
	fmt.Fprintf(w, "Topic: %s\nID: %s\nPartitions: %d\n\n", info.Topic, info.ID, len(info.Partitions))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tREPLICAS\tISR\tSTART-OFFSET\tEND-OFFSET\tRECORDS")
	for _, p := range info.Partitions {
		records := "-"
		if p.StartOffset >= 0 && p.EndOffset >= p.StartOffset {
			records = fmt.Sprint(p.EndOffset - p.StartOffset)
		}
		leader := fmt.Sprint(p.Leader)
		if p.Error != "" {
			leader += " (" + p.Error + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Partition, leader, int32List(p.Replicas), int32List(p.ISR),
			offsetOrDash(p.StartOffset), offsetOrDash(p.EndOffset), records)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(info.Configs) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONFIG\tVALUE\tSOURCE")
	for _, c := range info.Configs {
		v := "<null>"
		switch {
		case c.Sensitive:
			v = "<sensitive>"
		case c.Value != nil:
			v = *c.Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, v, c.Source)
	}
	return tw.Flush()
}

func offsetOrDash(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

func int32List(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

func topicAlter(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn         connFlags
		sets         stringList
		deletes      stringList
		partitions   int
		validateOnly bool
	)
	fs := newFlagSet("topic alter", "sluice topic alter NAME [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.Var(&sets, "config", "set topic config key=value (repeatable)")
	fs.Var(&deletes, "delete-config", "remove a topic config override, reverting to the default (repeatable)")
	fs.IntVar(&partitions, "partitions", 0, "raise the partition count to N (partitions cannot be removed)")
	fs.BoolVar(&validateOnly, "validate-only", false, "ask the broker to validate the change without applying it")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cli: topic alter: want exactly one topic name")
	}
	name := pos[0]
	kv, err := parseKV(sets, "--config")
	if err != nil {
		return err
	}
	if len(kv) == 0 && len(deletes) == 0 && partitions == 0 {
		fs.Usage()
		return errors.New("cli: topic alter: nothing to change (give --config, --delete-config or --partitions)")
	}
	if partitions < 0 || partitions > 1<<31-1 {
		return fmt.Errorf("cli: topic alter: --partitions %d: want a positive count", partitions)
	}
	var ops []kadm.AlterConfig
	for _, k := range sortedKeys(kv) {
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(kv[k])})
	}
	for _, k := range deletes {
		if _, clash := kv[k]; clash {
			return fmt.Errorf("cli: topic alter: %q is both set and deleted", k)
		}
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}

	ctx, adm, closeAdmin, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer closeAdmin()

	var done []string
	if len(ops) > 0 {
		if err := alterTopicConfigs(ctx, adm, name, ops, validateOnly); err != nil {
			return fmt.Errorf("cli: topic alter %q: %w", name, err)
		}
		for _, op := range ops {
			if op.Op == kadm.SetConfig {
				done = append(done, "set "+op.Name+"="+*op.Value)
			} else {
				done = append(done, "deleted "+op.Name)
			}
		}
	}
	if partitions > 0 {
		var resps kadm.CreatePartitionsResponses
		if validateOnly {
			resps, err = adm.ValidateUpdatePartitions(ctx, partitions, name)
		} else {
			resps, err = adm.UpdatePartitions(ctx, partitions, name)
		}
		if err != nil {
			return fmt.Errorf("cli: topic alter %q: partitions: %w", name, explainUnsupported(ctx, adm, err, 37, "CreatePartitions"))
		}
		r, err := resps.On(name, nil)
		if err != nil {
			return fmt.Errorf("cli: topic alter %q: partitions: no answer for the topic: %w", name, err)
		}
		if r.Err != nil {
			return fmt.Errorf("cli: topic alter %q: partitions: %w", name, kafkaErr(r.Err, r.ErrMessage))
		}
		done = append(done, fmt.Sprintf("partitions=%d", partitions))
	}
	verb := "Altered"
	if validateOnly {
		verb = "Validated (not applied)"
	}
	fmt.Fprintf(stdout, "%s topic %s: %s.\n", verb, name, strings.Join(done, ", "))
	return nil
}

// alterTopicConfigs applies ops with IncrementalAlterConfigs (Kafka 2.3+).
// Against a broker that only has the legacy AlterConfigs, it falls back to
// reading the topic's current overrides, applying ops to them and writing the
// whole set back, which is what legacy AlterConfigs requires.
func alterTopicConfigs(ctx context.Context, adm *kadm.Client, name string, ops []kadm.AlterConfig, validateOnly bool) error {
	alter := adm.AlterTopicConfigs
	if validateOnly {
		alter = adm.ValidateAlterTopicConfigs
	}
	resps, err := alter(ctx, ops, name)
	if err != nil {
		if !legacyAlterOnly(ctx, adm) {
			return explainUnsupported(ctx, adm, err, 44, "IncrementalAlterConfigs")
		}
		return alterTopicConfigsLegacy(ctx, adm, name, ops, validateOnly)
	}
	r, err := resps.On(name, nil)
	if err != nil {
		return fmt.Errorf("no answer for the topic: %w", err)
	}
	return kafkaErr(r.Err, r.ErrMessage)
}

// explainUnsupported says, in Kafka's terms, that the broker lacks an API
// when that is why err happened: franz-go's own wording ("broker is too
// old") does not name the request.
func explainUnsupported(ctx context.Context, adm *kadm.Client, err error, key int16, api string) error {
	vs, verr := adm.ApiVersions(ctx)
	if verr != nil || len(vs) == 0 {
		return err
	}
	for _, v := range vs {
		if _, ok := v.KeyMaxVersion(key); ok || v.Err != nil {
			return err
		}
	}
	return fmt.Errorf("the broker does not support %s (Kafka API key %d): %w", api, key, err)
}

// legacyAlterOnly reports whether the broker lacks IncrementalAlterConfigs
// (API key 44) but has AlterConfigs (33).
func legacyAlterOnly(ctx context.Context, adm *kadm.Client) bool {
	vs, err := adm.ApiVersions(ctx)
	if err != nil || len(vs) == 0 {
		return false
	}
	for _, v := range vs {
		if v.Err != nil {
			return false
		}
		_, incremental := v.KeyMaxVersion(44)
		_, legacy := v.KeyMaxVersion(33)
		if incremental || !legacy {
			return false
		}
	}
	return true
}

func alterTopicConfigsLegacy(ctx context.Context, adm *kadm.Client, name string, ops []kadm.AlterConfig, validateOnly bool) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return err
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return err
	}
	if rc.Err != nil {
		return kafkaErr(rc.Err, rc.ErrMessage)
	}
	state := map[string]*string{}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig && !c.Sensitive {
			state[c.Key] = c.Value
		}
	}
	for _, op := range ops {
		if op.Op == kadm.DeleteConfig {
			delete(state, op.Name)
		} else {
			state[op.Name] = op.Value
		}
	}
	all := make([]kadm.AlterConfig, 0, len(state))
	for k, v := range state {
		all = append(all, kadm.AlterConfig{Name: k, Value: v})
	}
	alter := adm.AlterTopicConfigsState
	if validateOnly {
		alter = adm.ValidateAlterTopicConfigsState
	}
	resps, err := alter(ctx, all, name)
	if err != nil {
		return err
	}
	r, err := resps.On(name, nil)
	if err != nil {
		return fmt.Errorf("no answer for the topic: %w", err)
	}
	return kafkaErr(r.Err, r.ErrMessage)
}

func topicDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn     connFlags
		ifExists bool
	)
	fs := newFlagSet("topic delete", "sluice topic delete NAME ... [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.BoolVar(&ifExists, "if-exists", false, "succeed if a topic does not exist")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return errors.New("cli: topic delete: want at least one topic name")
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()

	resps, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: topic delete: %w", err)
	}
	var errs []error
	for _, n := range names {
		r, err := resps.On(n, nil)
		if err == nil {
			err = kafkaErr(r.Err, r.ErrMessage)
		}
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "Deleted topic %s.\n", n)
		case ifExists && errors.Is(err, kerr.UnknownTopicOrPartition):
			fmt.Fprintf(stderr, "Topic %s does not exist.\n", n)
		default:
			errs = append(errs, fmt.Errorf("cli: topic delete %q: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
