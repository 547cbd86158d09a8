package cli

// `sluice group reset-offsets`, after kafka-consumer-groups --reset-offsets:
// the new offsets are computed from ListOffsets (earliest, latest, by
// time) or given (an offset, a shift from the committed one), clamped to
// each partition's [log start, log end] as Kafka's tool clamps them, shown,
// and committed only with --execute, only while the group has no members.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

type resetEntry struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current_offset"` // -1: none committed
	NewOffset int64  `json:"new_offset"`
}

// resetTarget says where reset-offsets moves each partition.
type resetTarget struct {
	earliest, latest bool
	toOffset         *int64
	shiftBy          *int64
	atMillis         *int64
}

type int64Flag struct{ p **int64 }

func (f int64Flag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.FormatInt(**f.p, 10)
}

func (f int64Flag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not an integer")
	}
	*f.p = &n
	return nil
}

type timeFlag struct{ p **int64 }

func (f timeFlag) String() string { return "" }

func (f timeFlag) Set(s string) error {
	ms, err := parseResetTime(s)
	if err != nil {
		return err
	}
	*f.p = &ms
	return nil
}

// parseResetTime accepts milliseconds since the epoch, RFC 3339, and Kafka
// tool's YYYY-MM-DDTHH:mm:SS[.sss] (local time unless a zone is given).
func parseResetTime(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time: want RFC 3339, YYYY-MM-DDTHH:mm:SS.sss or milliseconds since the epoch", s)
}

// parseTopicPartitions parses TOPIC or TOPIC:P,P,... (nil partitions: all).
func parseTopicPartitions(s string) (string, []int32, error) {
	t, ps, ok := strings.Cut(s, ":")
	if t == "" {
		return "", nil, fmt.Errorf("--topic %q: empty topic", s)
	}
	if !ok {
		return t, nil, nil
	}
	var out []int32
	for p := range strings.SplitSeq(ps, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return "", nil, fmt.Errorf("--topic %q: %q is not a partition", s, p)
		}
		out = append(out, int32(n))
	}
	return t, out, nil
}

func groupResetOffsets(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn              connFlags
		topics            stringList
		allTopics         bool
		tgt               resetTarget
		dryRun, execute   bool
		asJSON            bool
		toOffset, shiftBy *int64
		atMillis          *int64
	)
	fs := newFlagSet("group reset-offsets", "sluice group reset-offsets GROUP (--topic T[:P,P] ... | --all-topics) (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME | --shift-by N) [--dry-run | --execute]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.Var(&topics, "topic", "topic to reset, optionally with partitions: TOPIC or TOPIC:0,1 (repeatable)")
	fs.BoolVar(&allTopics, "all-topics", false, "reset every topic the group has committed offsets for")
	fs.BoolVar(&tgt.earliest, "to-earliest", false, "reset to the log start offset")
	fs.BoolVar(&tgt.latest, "to-latest", false, "reset to the log end offset")
	fs.Var(int64Flag{&toOffset}, "to-offset", "reset to this offset (clamped to the partition's range)")
	fs.Var(int64Flag{&shiftBy}, "shift-by", "move the committed offset by N (negative: back)")
	fs.Var(timeFlag{&atMillis}, "to-datetime", "reset to the first record at or after this time")
	fs.BoolVar(&dryRun, "dry-run", false, "only show the new offsets (the default)")
	fs.BoolVar(&execute, "execute", false, "commit the new offsets")
	fs.BoolVar(&asJSON, "json", false, "print the new offsets as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	tgt.toOffset, tgt.shiftBy, tgt.atMillis = toOffset, shiftBy, atMillis
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cli: group reset-offsets: want exactly one group")
	}
	groupID := pos[0]
	n := 0
	for _, set := range []bool{tgt.earliest, tgt.latest, tgt.toOffset != nil, tgt.shiftBy != nil, tgt.atMillis != nil} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return errors.New("cli: group reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
	case len(topics) == 0 && !allTopics, len(topics) > 0 && allTopics:
		return errors.New("cli: group reset-offsets: give --topic (one or more) or --all-topics")
	case dryRun && execute:
		return errors.New("cli: group reset-offsets: --dry-run and --execute exclude each other")
	}
	if !dryRun && !execute {
		fmt.Fprintln(stderr, "WARN: No action will be performed as the --execute option is missing. Showing the new offsets (--dry-run).")
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()

	described, err := adm.DescribeGroups(ctx, groupID)
	if err != nil {
		return fmt.Errorf("cli: group reset-offsets: %w", err)
	}
	d := described[groupID]
	if d.Err != nil {
		return fmt.Errorf("cli: group reset-offsets: %s: %w", groupID, d.Err)
	}
	if d.State != "Empty" && d.State != "Dead" {
		return fmt.Errorf("cli: group reset-offsets: assignments can only be reset if the group '%s' is inactive, but the current state is %s", groupID, d.State)
	}
	committed, err := adm.FetchOffsets(ctx, groupID)
	if err != nil {
		return fmt.Errorf("cli: group reset-offsets: %w", err)
	}
	if err := committed.Error(); err != nil {
		return fmt.Errorf("cli: group reset-offsets: fetch committed offsets: %w", err)
	}

	// The partitions to reset.
	want := map[string][]int32{} // nil: every partition
	if allTopics {
		committed.Each(func(o kadm.OffsetResponse) { want[o.Topic] = append(want[o.Topic], o.Partition) })
		if len(want) == 0 {
			return fmt.Errorf("cli: group reset-offsets: group %s has no committed offsets; name the topics with --topic", groupID)
		}
	} else {
		for _, s := range topics {
			t, ps, err := parseTopicPartitions(s)
			if err != nil {
				return fmt.Errorf("cli: group reset-offsets: %w", err)
			}
			if _, dup := want[t]; dup {
				return fmt.Errorf("cli: group reset-offsets: --topic %s given twice", t)
			}
			want[t] = ps
		}
	}
	names := make([]string, 0, len(want))
	for t := range want {
		names = append(names, t)
	}
	slices.Sort(names)
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: group reset-offsets: list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("cli: group reset-offsets: list end offsets: %w", err)
	}
	var at kadm.ListedOffsets
	if tgt.atMillis != nil {
		if at, err = adm.ListOffsetsAfterMilli(ctx, *tgt.atMillis, names...); err != nil {
			return fmt.Errorf("cli: group reset-offsets: list offsets by time: %w", err)
		}
	}

	var entries []resetEntry
	offsets := kadm.Offsets{}
	for _, t := range names {
		ps := want[t]
		if ps == nil {
			if len(ends[t]) == 0 {
				return fmt.Errorf("cli: group reset-offsets: topic %s does not exist", t)
			}
			for p := range ends[t] {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		for _, p := range ps {
			start, ok1 := starts.Lookup(t, p)
			end, ok2 := ends.Lookup(t, p)
			if !ok1 || !ok2 || start.Err != nil || end.Err != nil {
				return fmt.Errorf("cli: group reset-offsets: partition %s:%d does not exist", t, p)
			}
			cur := int64(-1)
			if o, ok := committed.Lookup(t, p); ok {
				cur = o.At
			}
			var next int64
			switch {
			case tgt.earliest:
				next = start.Offset
			case tgt.latest:
				next = end.Offset
			case tgt.toOffset != nil:
				next = *tgt.toOffset
			case tgt.shiftBy != nil:
				if cur < 0 {
					return fmt.Errorf("cli: group reset-offsets: --shift-by: group %s has no committed offset for %s:%d", groupID, t, p)
				}
				next = cur + *tgt.shiftBy
			default:
				next = end.Offset
				if o, ok := at.Lookup(t, p); ok && o.Err == nil && o.Offset >= 0 {
					next = o.Offset
				}
			}
			next = min(max(next, start.Offset), end.Offset)
			entries = append(entries, resetEntry{Group: groupID, Topic: t, Partition: p, Current: cur, NewOffset: next})
			offsets.AddOffset(t, p, next, -1)
		}
	}
	if execute {
		res, err := adm.CommitOffsets(ctx, groupID, offsets)
		if err != nil {
			return fmt.Errorf("cli: group reset-offsets: commit: %w", err)
		}
		if err := res.Error(); err != nil {
			return fmt.Errorf("cli: group reset-offsets: commit: %w", err)
		}
	}
	if asJSON {
		return writeJSON(stdout, entries)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\n", e.Group, e.Topic, e.Partition, offsetOrDash(e.Current), e.NewOffset)
	}
	return tw.Flush()
}
