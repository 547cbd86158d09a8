package cli

// status.go implements `sluice status`: a running broker's overview, read
// from its admin API (GET /api/overview, docs/admin-api.md) on the HTTP
// listener — the one CLI command that needs the broker's HTTP side rather
// than the Kafka or SQS protocol.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register("status", "show a running broker's overview and firing alerts (admin API)", runStatus)
}

// overview mirrors the admin API's /api/overview.
type overview struct {
	Broker struct {
		Version   string            `json:"version"`
		ClusterID string            `json:"cluster_id"`
		DataDir   string            `json:"data_dir"`
		UptimeS   float64           `json:"uptime_s"`
		Addrs     map[string]string `json:"addrs"`
	} `json:"broker"`
	Topics     int `json:"topics"`
	Partitions int `json:"partitions"`
	Queues     int `json:"queues"`
	Groups     int `json:"groups"`
	Totals     struct {
		ProduceRate   float64 `json:"produce_rate"`
		FetchRate     float64 `json:"fetch_rate"`
		QueueVisible  int64   `json:"queue_visible"`
		QueueInFlight int64   `json:"queue_in_flight"`
		DLQDepth      int64   `json:"dlq_depth"`
		GroupLag      int64   `json:"group_lag"`
	} `json:"totals"`
	Alerts []struct {
		Rule    string `json:"rule"`
		Kind    string `json:"kind"`
		Target  string `json:"target"`
		SinceMs int64  `json:"since_ms"`
		Message string `json:"message"`
	} `json:"alerts"`
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "sluice status [--http-addr HOST:PORT] [--token T | --basic USER:PASS] [--json]", stderr)
	var conn httpFlags
	conn.register(fs)
	asJSON := fs.Bool("json", false, "print the overview as JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "request timeout")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("cli: status: unexpected argument %q", pos[0])
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	body, err := conn.get(ctx, "status", "/api/overview", nil)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var o overview
	if err := json.Unmarshal(body, &o); err != nil {
		return fmt.Errorf("cli: status: unexpected answer from %s: %w", conn.base(), err)
	}
	printOverview(stdout, &o)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func printOverview(w io.Writer, o *overview) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	up := time.Duration(o.Broker.UptimeS * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(tw, "broker\t%s, cluster %s, up %s\n", o.Broker.Version, o.Broker.ClusterID, up)
	fmt.Fprintf(tw, "data dir\t%s\n", o.Broker.DataDir)
	var listen []string
	for _, l := range []string{"kafka", "sqs", "http"} {
		if a := o.Broker.Addrs[l]; a != "" {
			listen = append(listen, l+" "+a)
		}
	}
	fmt.Fprintf(tw, "listening\t%s\n", strings.Join(listen, ", "))
	fmt.Fprintf(tw, "topics\t%d (%d partitions), producing %.1f records/s, fetching %.1f records/s\n",
		o.Topics, o.Partitions, o.Totals.ProduceRate, o.Totals.FetchRate)
	fmt.Fprintf(tw, "queues\t%d, %s visible, %s in flight, %s dead-lettered\n",
		o.Queues, formatCount(o.Totals.QueueVisible), formatCount(o.Totals.QueueInFlight), formatCount(o.Totals.DLQDepth))
	fmt.Fprintf(tw, "groups\t%d, total lag %s\n", o.Groups, formatCount(o.Totals.GroupLag))
	if len(o.Alerts) == 0 {
		fmt.Fprintf(tw, "alerts\tnone firing\n")
	}
	tw.Flush()
	if len(o.Alerts) > 0 {
		fmt.Fprintf(w, "\nFIRING ALERTS\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "RULE\tKIND\tTARGET\tSINCE\tMESSAGE\n")
		for _, a := range o.Alerts {
			since := time.UnixMilli(a.SinceMs).Format(time.RFC3339)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Rule, a.Kind, a.Target, since, a.Message)
		}
		tw.Flush()
	}
}
