package cli

// group.go implements `sluice group`: list, describe (with lag), delete and
// reset-offsets for consumer groups, through the Kafka admin API (kadm), so
// that it works the same against Sluice and against a Kafka cluster. It
// follows Kafka's kafka-consumer-groups tool: describe shows CURRENT-OFFSET,
// LOG-END-OFFSET and LAG per partition with the member consuming it (lag is
// computed client side from ListOffsets and OffsetFetch); reset-offsets is
// a dry run unless --execute is given and is refused while the group has
// members, with Kafka's message.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	register("group", "list, describe, delete consumer groups and reset their offsets", runGroup)
}

const groupUsage = `usage: sluice group <command> [flags]

commands:
  list [--state STATE ...] [--json]
  describe GROUP ... [--members] [--json]
  delete GROUP ...
  reset-offsets GROUP (--topic TOPIC[:P,P...] ... | --all-topics)
      (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME | --shift-by N)
      [--dry-run | --execute] [--json]

describe shows, per partition, the committed offset, the log end offset,
the lag and the member consuming it. reset-offsets only shows the new
offsets unless --execute is given, and is refused while the group has
members (stop the consumers first), as kafka-consumer-groups does. TIME is
RFC 3339 (2024-05-01T12:00:00Z), Kafka's YYYY-MM-DDTHH:mm:SS.sss (local
time) or milliseconds since the epoch.

every command also takes --bootstrap host:port (env SLUICE_KAFKA_ADDR,
default 127.0.0.1:9092) and --timeout (default 30s).
`

func runGroup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, groupUsage)
		if len(args) == 0 {
			return errors.New("cli: group: missing command")
		}
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "list", "ls":
		return groupList(ctx, rest, stdout, stderr)
	case "describe":
		return groupDescribe(ctx, rest, stdout, stderr)
	case "delete", "rm":
		return groupDelete(ctx, rest, stdout, stderr)
	case "reset-offsets":
		return groupResetOffsets(ctx, rest, stdout, stderr)
	}
	fmt.Fprint(stderr, groupUsage)
	return fmt.Errorf("cli: group: unknown command %q", cmd)
}

type groupListEntry struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Members      int    `json:"members"`
}

func groupList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn   connFlags
		states stringList
		asJSON bool
	)
	fs := newFlagSet("group list", "sluice group list [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.Var(&states, "state", "only groups in this state: Empty, Stable, PreparingRebalance, CompletingRebalance, Dead (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print the groups as a JSON array")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("cli: group list: unexpected argument %q", pos[0])
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	listed, err := adm.ListGroups(ctx, states...)
	if err != nil {
		return fmt.Errorf("cli: group list: %w", err)
	}
	entries := make([]groupListEntry, 0, len(listed))
	var described kadm.DescribedGroups
	if len(listed) > 0 {
		if described, err = adm.DescribeGroups(ctx, listed.Groups()...); err != nil {
			return fmt.Errorf("cli: group list: %w", err)
		}
	}
	for _, l := range listed.Sorted() {
		entries = append(entries, groupListEntry{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Members: len(described[l.Group].Members)})
	}
	if asJSON {
		return writeJSON(stdout, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(stderr, "No groups.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE\tMEMBERS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", e.Group, e.State, dash(e.ProtocolType), e.Members)
	}
	return tw.Flush()
}

type groupPartitionLag struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	CurrentOffset int64  `json:"current_offset"` // -1: none committed
	LogEndOffset  int64  `json:"log_end_offset"`
	Lag           int64  `json:"lag"` // -1: unknown
	MemberID      string `json:"member_id,omitempty"`
	Host          string `json:"host,omitempty"`
	ClientID      string `json:"client_id,omitempty"`
	Error         string `json:"error,omitempty"`
}

type groupMemberEntry struct {
	MemberID   string   `json:"member_id"`
	InstanceID string   `json:"instance_id,omitempty"`
	ClientID   string   `json:"client_id"`
	Host       string   `json:"host"`
	Assignment []string `json:"assignment"`
}

type groupDescription struct {
	Group        string              `json:"group"`
	State        string              `json:"state"`
	ProtocolType string              `json:"protocol_type"`
	Protocol     string              `json:"protocol"`
	Members      []groupMemberEntry  `json:"members"`
	Partitions   []groupPartitionLag `json:"partitions"`
	TotalLag     int64               `json:"total_lag"`
	Error        string              `json:"error,omitempty"`
}

func groupDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		conn    connFlags
		members bool
		asJSON  bool
	)
	fs := newFlagSet("group describe", "sluice group describe GROUP ... [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	fs.BoolVar(&members, "members", false, "list the members and their assignments instead of the partitions")
	fs.BoolVar(&asJSON, "json", false, "print the groups as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errors.New("cli: group describe: want at least one group")
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	lags, err := adm.Lag(ctx, pos...)
	if err != nil {
		return fmt.Errorf("cli: group describe: %w", err)
	}
	var out []groupDescription
	var failed []string
	for _, g := range pos {
		l, ok := lags[g]
		if !ok {
			continue
		}
		d := describeLag(l)
		if d.Error != "" {
			failed = append(failed, g+": "+d.Error)
		}
		out = append(out, d)
	}
	if asJSON {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
	} else {
		for i, d := range out {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if err := printGroup(stdout, d, members); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cli: group describe: %s", strings.Join(failed, "; "))
	}
	return nil
}

func describeLag(l kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol, Partitions: []groupPartitionLag{}, Members: []groupMemberEntry{}}
	if err := l.Error(); err != nil {
		d.Error = err.Error()
		return d
	}
	for _, m := range l.Members {
		e := groupMemberEntry{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []string{}}
		if m.InstanceID != nil {
			e.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				for _, p := range slices.Sorted(slices.Values(t.Partitions)) {
					e.Assignment = append(e.Assignment, fmt.Sprintf("%s:%d", t.Topic, p))
				}
			}
		}
		d.Members = append(d.Members, e)
	}
	for _, ml := range l.Lag.Sorted() {
		p := groupPartitionLag{Topic: ml.Topic, Partition: ml.Partition, CurrentOffset: ml.Commit.At, LogEndOffset: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			p.MemberID, p.Host, p.ClientID = ml.Member.MemberID, ml.Member.ClientHost, ml.Member.ClientID
		}
		if ml.Err != nil {
			p.Error = ml.Err.Error()
		}
		if p.Lag > 0 {
			d.TotalLag += p.Lag
		}
		d.Partitions = append(d.Partitions, p)
	}
	return d
}

func printGroup(w io.Writer, d groupDescription, members bool) error {
	if d.Error != "" {
		fmt.Fprintf(w, "Group %s: %s\n", d.Group, d.Error)
		return nil
	}
	fmt.Fprintf(w, "Group %s: state %s", d.Group, d.State)
	if d.ProtocolType != "" {
		fmt.Fprintf(w, ", protocol type %s", d.ProtocolType)
	}
	if d.Protocol != "" {
		fmt.Fprintf(w, ", assignor %s", d.Protocol)
	}
	fmt.Fprintf(w, ", %d members, total lag %d\n", len(d.Members), d.TotalLag)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if members {
		if len(d.Members) == 0 {
			fmt.Fprintf(w, "Consumer group '%s' has no active members.\n", d.Group)
			return nil
		}
		fmt.Fprintln(tw, "CONSUMER-ID\tINSTANCE-ID\tHOST\tCLIENT-ID\t#PARTITIONS\tASSIGNMENT")
		for _, m := range d.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", m.MemberID, dash(m.InstanceID), m.Host, m.ClientID, len(m.Assignment), dash(strings.Join(m.Assignment, ",")))
		}
		return tw.Flush()
	}
	if len(d.Members) == 0 {
		fmt.Fprintf(w, "Consumer group '%s' has no active members.\n", d.Group)
	}
	if len(d.Partitions) == 0 {
		return nil
	}
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for _, p := range d.Partitions {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Group, p.Topic, p.Partition,
			offsetOrDash(p.CurrentOffset), offsetOrDash(p.LogEndOffset), offsetOrDash(p.Lag), dash(p.MemberID), dash(p.Host), dash(p.ClientID))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func groupDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var conn connFlags
	fs := newFlagSet("group delete", "sluice group delete GROUP ... [flags]", stderr)
	conn.register(fs)
	conn.registerTimeout(fs, adminTimeout)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return errors.New("cli: group delete: want at least one group")
	}
	ctx, adm, done, err := conn.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.DeleteGroups(ctx, pos...)
	if err != nil {
		return fmt.Errorf("cli: group delete: %w", err)
	}
	var failed []string
	for _, g := range pos {
		r, ok := res[g]
		switch {
		case !ok:
			failed = append(failed, g+": no answer")
		case r.Err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", g, r.Err))
		default:
			fmt.Fprintf(stdout, "Deleted group %s.\n", g)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cli: group delete: %s", strings.Join(failed, "; "))
	}
	return nil
}
