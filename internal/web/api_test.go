package web_test

// Admin API, metrics and auth against a real in-process broker: topics
// produced to with franz-go, a consumer group with committed offsets,
// queues fed through the SQS API (aws-sdk-go-v2) and the queue engine, a
// dead-letter queue holding messages with SDK diagnostics.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-mq/sluice/broker"
	"github.com/sluice-mq/sluice/internal/queue"
)

type env struct {
	t    *testing.T
	b    *broker.Broker
	base string // http://host:port
	hc   *http.Client
}

func startBroker(t *testing.T, settings map[string]string) *env {
	t.Helper()
	b, err := broker.Open(broker.Config{
		DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", SQSAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Settings: settings, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return &env{t: t, b: b, base: "http://" + b.Addrs().HTTP, hc: hc}
}

// do sends a request and returns the status and body.
func (e *env) do(method, path string, body any, hdr ...string) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// get decodes a 200 JSON answer into v.
func (e *env) get(path string, v any) {
	e.t.Helper()
	e.call("GET", path, nil, 200, v)
}

func (e *env) call(method, path string, body any, want int, v any) {
	e.t.Helper()
	code, b := e.do(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, code, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// wantError checks an error answer's status and code.
func (e *env) wantError(method, path string, body any, status int, code string) {
	e.t.Helper()
	var er struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	e.call(method, path, body, status, &er)
	if er.Error.Code != code || er.Error.Message == "" {
		e.t.Fatalf("%s %s: error %+v, want code %s", method, path, er.Error, code)
	}
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type diag struct {
	Source    string    `json:"source"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	First     time.Time `json:"first_attempt"`
	Last      time.Time `json:"last_attempt"`
	WorkerID  string    `json:"worker_id"`
}

func str(s string) *string { return &s }

// sendDead puts a message into the DLQ the way the SDK dead-letters one:
// the original body and attributes plus a sluice-diagnostics attribute.
func sendDead(t *testing.T, q *queue.Queue, body, tenant, diagnostics string) string {
	t.Helper()
	attrs := map[string]queue.MessageAttributeValue{"tenant": {DataType: "String", StringValue: str(tenant)}}
	if diagnostics != "" {
		attrs["sluice-diagnostics"] = queue.MessageAttributeValue{DataType: "String", StringValue: str(diagnostics)}
	}
	res, err := q.Send(context.Background(), []queue.SendInput{{Body: body, Attributes: attrs}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("send: %v %v", err, res[0].Err)
	}
	return res[0].MessageID
}

func diagJSON(errText string) string {
	b, _ := json.Marshal(diag{Source: "jobs", Attempts: 5, LastError: errText, First: time.Unix(1_700_000_000, 0).UTC(), Last: time.Unix(1_700_000_300, 0).UTC(), WorkerID: "host-1/42"})
	return string(b)
}

type topicJ struct {
	Name                 string  `json:"name"`
	Partitions           int     `json:"partitions"`
	EndOffsetSum         int64   `json:"end_offset_sum"`
	Records              int64   `json:"records"`
	Bytes                int64   `json:"bytes"`
	ProduceRate          float64 `json:"produce_rate"`
	ProducedRecordsTotal int64   `json:"produced_records_total"`
	FetchedRecordsTotal  int64   `json:"fetched_records_total"`
}

type queueJ struct {
	Name            string   `json:"name"`
	Visible         int64    `json:"visible"`
	InFlight        int64    `json:"in_flight"`
	SentTotal       int64    `json:"sent_total"`
	ReceivedTotal   int64    `json:"received_total"`
	DeletedTotal    int64    `json:"deleted_total"`
	DLQ             *string  `json:"dlq"`
	MaxReceiveCount *int     `json:"max_receive_count"`
	IsDLQ           bool     `json:"is_dlq"`
	DLQSources      []string `json:"dlq_sources"`
	Attributes      map[string]string
	Tags            map[string]string
}

type messageJ struct {
	ID               string `json:"id"`
	Body             string `json:"body"`
	Truncated        bool   `json:"truncated"`
	BodyBytes        int    `json:"body_bytes"`
	ReceiveCount     int    `json:"receive_count"`
	Attributes       map[string]struct{ Type, Value string }
	Diagnostics      *diag   `json:"diagnostics"`
	DiagnosticsError *string `json:"diagnostics_error"`
}

type pageJ struct {
	Messages   []messageJ `json:"messages"`
	NextCursor *string    `json:"next_cursor"`
	Scanned    int        `json:"scanned"`
}

func (e *env) queue(name string) queueJ {
	e.t.Helper()
	var q queueJ
	e.get("/api/queues/"+name, &q)
	return q
}

func bodies(p pageJ) string {
	var out []string
	for _, m := range p.Messages {
		out = append(out, m.Body)
	}
	return strings.Join(out, ",")
}

func TestAdminAPI(t *testing.T) {
	e := startBroker(t, map[string]string{
		"http.history.interval": "100ms",
		"alert.dlq.kind":        "dlq_depth",
		"alert.dlq.target":      "jobs",
		"alert.dlq.threshold":   "1",
		"alert.interval":        "100ms",
	})
	b := e.b
	ctx := context.Background()

	// ---- Kafka: a topic with 30 records, fetched once, a group at 10 ----
	if _, err := b.Topics().Create("orders", 3, nil, false); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs().Kafka), kgo.DefaultProduceTopic("orders"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "order-%d", i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for fetched < 30 {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		fs := cl.PollFetches(fctx)
		cancel()
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fetched += fs.NumRecords()
	}
	adm := kadm.NewClient(cl)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 10, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}

	// ---- SQS: jobs (RedrivePolicy to jobs-dlq) through aws-sdk-go-v2 ----
	sc := sqs.New(sqs.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		BaseEndpoint: aws.String("http://" + b.Addrs().SQS),
	})
	dlqOut, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	_ = dlqOut
	jobsOut, err := sc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"` + b.Queues().ARN("jobs-dlq") + `","maxReceiveCount":"4"}`,
	}, Tags: map[string]string{"team": "core"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := sc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: jobsOut.QueueUrl, MessageBody: aws.String(fmt.Sprintf("job-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: jobsOut.QueueUrl, MaxNumberOfMessages: 2, VisibilityTimeout: 60})
	if err != nil || len(rcv.Messages) != 2 {
		t.Fatalf("receive: %v %d", err, len(rcv.Messages))
	}
	if _, err := sc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: jobsOut.QueueUrl, ReceiptHandle: rcv.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	dlq := b.Queues().Get("jobs-dlq")
	id1 := sendDead(t, dlq, "order-1", "acme", diagJSON("timeout talking to db"))
	id2 := sendDead(t, dlq, "order-2", "globex", diagJSON("payment declined"))
	sendDead(t, dlq, "order-3", "acme", diagJSON("timeout"))
	sendDead(t, dlq, strings.Repeat("é", 3000), "initech", "not json")

	// ---- overview ----
	var ov struct {
		Broker struct {
			Version   string
			ClusterID string `json:"cluster_id"`
			DataDir   string `json:"data_dir"`
			UptimeS   float64
			Addrs     map[string]string `json:"addrs"`
		} `json:"broker"`
		Topics, Partitions, Queues, Groups int
		Totals                             struct {
			QueueVisible int64 `json:"queue_visible"`
			DLQDepth     int64 `json:"dlq_depth"`
			GroupLag     int64 `json:"group_lag"`
		}
		Alerts []struct{ Rule, State string }
	}
	e.get("/api/overview", &ov)
	if ov.Broker.ClusterID != b.ClusterID() || ov.Broker.Addrs["kafka"] != b.Addrs().Kafka || ov.Broker.DataDir != b.DataDir() ||
		ov.Topics != 1 || ov.Partitions != 3 || ov.Queues != 2 || ov.Groups != 1 ||
		ov.Totals.QueueVisible != 3+4 || ov.Totals.DLQDepth != 4 || ov.Totals.GroupLag != 0 /* p0: 10 of 10 */ {
		t.Fatalf("overview = %+v", ov)
	}

	// ---- topics ----
	var topics []topicJ
	e.get("/api/topics", &topics)
	if len(topics) != 1 || topics[0].Name != "orders" || topics[0].Partitions != 3 || topics[0].EndOffsetSum != 30 ||
		topics[0].Records != 30 || topics[0].Bytes <= 0 || topics[0].ProducedRecordsTotal != 30 || topics[0].FetchedRecordsTotal < 30 {
		t.Fatalf("topics = %+v", topics)
	}
	var td struct {
		Name       string
		ID         string
		Configs    []struct{ Name, Value, Source string }
		Partitions []struct{ Partition, Start, End, Bytes int64 }
		Groups     []struct {
			Group string
			Lag   int64
		}
	}
	e.get("/api/topics/orders", &td)
	if td.Name != "orders" || len(td.ID) != 36 || len(td.Configs) == 0 || len(td.Partitions) != 3 || td.Partitions[0].End != 10 ||
		len(td.Groups) != 1 || td.Groups[0].Group != "billing" || td.Groups[0].Lag != 0 {
		t.Fatalf("topic detail = %+v", td)
	}
	e.wantError("GET", "/api/topics/nope", nil, 404, "not_found")

	// ---- groups ----
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 4, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 7, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	var groups []struct {
		Group, State string
		Members      int
		Topics       []string
		Lag          int64
	}
	e.get("/api/groups", &groups)
	if len(groups) != 1 || groups[0].Group != "billing" || groups[0].Lag != 6+3 || len(groups[0].Topics) != 1 || groups[0].Members != 0 {
		t.Fatalf("groups = %+v", groups)
	}
	var gd struct {
		Group   string
		Lag     int64
		Members []any
		Offsets []struct {
			Topic               string
			Partition           int32
			Committed, End, Lag int64
		}
	}
	e.get("/api/groups/billing", &gd)
	if gd.Lag != 9 || len(gd.Offsets) != 2 || gd.Offsets[1].Committed != 7 || gd.Offsets[1].End != 10 || gd.Offsets[1].Lag != 3 || gd.Members == nil {
		t.Fatalf("group detail = %+v", gd)
	}
	e.wantError("GET", "/api/groups/nobody", nil, 404, "not_found")

	// ---- queues ----
	var qs []queueJ
	e.get("/api/queues", &qs)
	if len(qs) != 2 || qs[0].Name != "jobs" || qs[1].Name != "jobs-dlq" {
		t.Fatalf("queues = %+v", qs)
	}
	jobs := qs[0]
	if jobs.Visible != 3 || jobs.InFlight != 1 || jobs.SentTotal != 5 || jobs.ReceivedTotal != 2 || jobs.DeletedTotal != 1 ||
		jobs.DLQ == nil || *jobs.DLQ != "jobs-dlq" || jobs.MaxReceiveCount == nil || *jobs.MaxReceiveCount != 4 || jobs.IsDLQ {
		t.Fatalf("jobs = %+v", jobs)
	}
	if d := qs[1]; d.Visible != 4 || !d.IsDLQ || len(d.DLQSources) != 1 || d.DLQSources[0] != "jobs" || d.DLQ != nil {
		t.Fatalf("jobs-dlq = %+v", d)
	}
	if q := e.queue("jobs"); q.Attributes["ApproximateNumberOfMessages"] != "3" || q.Tags["team"] != "core" {
		t.Fatalf("queue detail = %+v", q)
	}
	e.wantError("GET", "/api/queues/nope", nil, 404, "not_found")

	// ---- peek: pages, diagnostics, filters; no receive counted ----
	var p1, p2 pageJ
	e.get("/api/queues/jobs-dlq/messages?limit=2", &p1)
	if len(p1.Messages) != 2 || p1.NextCursor == nil || p1.Messages[0].ID != id1 {
		t.Fatalf("page 1 = %+v", p1)
	}
	m := p1.Messages[0]
	if m.Diagnostics == nil || m.Diagnostics.LastError != "timeout talking to db" || m.Diagnostics.Attempts != 5 || m.Diagnostics.Source != "jobs" ||
		m.Attributes["tenant"].Value != "acme" || m.ReceiveCount != 0 || m.DiagnosticsError != nil {
		t.Fatalf("message = %+v", m)
	}
	e.get("/api/queues/jobs-dlq/messages?limit=2&cursor="+*p1.NextCursor, &p2)
	if len(p2.Messages) != 2 || p2.NextCursor != nil || p2.Messages[0].Body != "order-3" {
		t.Fatalf("page 2 = %+v", p2)
	}
	big := p2.Messages[1]
	if big.Diagnostics != nil || big.DiagnosticsError == nil || !big.Truncated || big.BodyBytes != 6000 || len(big.Body) > 4096 || !strings.HasPrefix(big.Body, "éé") {
		t.Fatalf("bad-diagnostics message: truncated %v bytes %d len %d diagErr %v", big.Truncated, big.BodyBytes, len(big.Body), big.DiagnosticsError)
	}
	for _, tc := range []struct{ query, want string }{
		{"match_error=timeout", "order-1,order-3"},
		{"match_attr=tenant=acme", "order-1,order-3"},
		{"match_attr=tenant", "order-1,order-2,order-3," + big.Body[:0]},
		{"match_body=order-2", "order-2"},
		{"match_body=order&match_error=declined", "order-2"},
		{"match_error=timeout&limit=1", "order-1"},
	} {
		var p pageJ
		e.get("/api/queues/jobs-dlq/messages?"+tc.query, &p)
		got := bodies(p)
		if tc.query == "match_attr=tenant" {
			got = bodies(pageJ{Messages: p.Messages[:3]}) + "," // the 4th is the long body
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.query, got, tc.want)
		}
	}
	var small pageJ
	e.get("/api/queues/jobs-dlq/messages?match_body=order-3&scan_limit=2", &small)
	if len(small.Messages) != 0 || small.Scanned != 2 || small.NextCursor == nil {
		t.Fatalf("scan limit: %+v", small)
	}
	e.wantError("GET", "/api/queues/jobs-dlq/messages?match_body=(", nil, 400, "bad_request")
	e.wantError("GET", "/api/queues/jobs-dlq/messages?limit=0", nil, 400, "bad_request")
	e.wantError("GET", "/api/queues/jobs-dlq/messages?cursor=x", nil, 400, "bad_request")
	if q := e.queue("jobs-dlq"); q.ReceivedTotal != 0 || q.Visible != 4 {
		t.Fatalf("peek counted as receive: %+v", q)
	}

	// ---- the alert on jobs' DLQ depth fires (4 > 1) ----
	type alertJ struct {
		Rule, Kind, Target, State string
		Value                     *float64
		Threshold                 float64
	}
	e.eventually("alert firing", func() bool {
		var as []alertJ
		e.get("/api/alerts", &as)
		return len(as) == 1 && as[0].State == "firing" && as[0].Value != nil && *as[0].Value == 4
	})

	// ---- redrive ----
	type redriveJ struct {
		Matched, Moved, Skipped int
		DryRun                  bool `json:"dry_run"`
	}
	var rr redriveJ
	e.call("POST", "/api/queues/jobs-dlq/redrive", map[string]any{"match_error": "timeout", "dry_run": true}, 200, &rr)
	if rr != (redriveJ{Matched: 2, DryRun: true}) || e.queue("jobs-dlq").Visible != 4 {
		t.Fatalf("dry run = %+v", rr)
	}
	e.call("POST", "/api/queues/jobs-dlq/redrive", map[string]any{"match_error": "timeout", "rate": 1000}, 200, &rr)
	if rr != (redriveJ{Matched: 2, Moved: 2}) {
		t.Fatalf("redrive by error = %+v", rr)
	}
	if j, d := e.queue("jobs"), e.queue("jobs-dlq"); j.Visible != 5 || d.Visible != 2 {
		t.Fatalf("after redrive: jobs %d dlq %d", j.Visible, d.Visible)
	}
	var left pageJ
	e.get("/api/queues/jobs-dlq/messages", &left)
	if len(left.Messages) != 2 || left.Messages[0].ID != id2 {
		t.Fatalf("left in DLQ: %+v", bodies(left))
	}
	// The message with unreadable diagnostics still goes back to jobs:
	// jobs is the only queue dead-lettering into jobs-dlq.
	e.call("POST", "/api/queues/jobs-dlq/redrive", map[string]any{"ids": []string{id2}, "to": "jobs"}, 200, &rr)
	if rr != (redriveJ{Matched: 1, Moved: 1}) || e.queue("jobs-dlq").Visible != 1 {
		t.Fatalf("redrive by id = %+v", rr)
	}
	e.wantError("POST", "/api/queues/jobs-dlq/redrive", `{"match_body": "("}`, 400, "bad_request")
	e.wantError("POST", "/api/queues/jobs-dlq/redrive", `{"bogus": 1}`, 400, "bad_request")
	e.wantError("POST", "/api/queues/jobs-dlq/redrive", `{"to": "nope"}`, 404, "not_found")
	e.wantError("POST", "/api/queues/jobs-dlq/redrive", `{"to": "jobs-dlq"}`, 400, "bad_request")
	e.wantError("GET", "/api/queues/jobs-dlq/redrive", nil, 405, "method_not_allowed")

	// ---- purge; the alert resolves ----
	var pr map[string]bool
	e.call("POST", "/api/queues/jobs-dlq/purge", nil, 200, &pr)
	if !pr["purged"] || e.queue("jobs-dlq").Visible != 0 {
		t.Fatalf("purge = %v", pr)
	}
	e.wantError("POST", "/api/queues/jobs-dlq/purge", nil, 409, "conflict")
	e.eventually("alert resolved", func() bool {
		var as []alertJ
		e.get("/api/alerts", &as)
		return as[0].State == "ok"
	})
	e.wantError("GET", "/api/nothing", nil, 404, "not_found")

	// ---- history: samples every 100ms ----
	var h struct {
		IntervalS float64 `json:"interval_s"`
		Series    map[string][][2]float64
	}
	e.eventually("history points", func() bool {
		e.get("/api/history?series=queue:jobs:visible&series=nope&prefix=topic:orders:", &h)
		return len(h.Series["queue:jobs:visible"]) >= 3
	})
	pts := h.Series["queue:jobs:visible"]
	if h.IntervalS != 0.1 || pts[len(pts)-1][1] != 6 || h.Series["nope"] == nil || len(h.Series["nope"]) != 0 || h.Series["topic:orders:records"] == nil {
		t.Fatalf("history = %+v", h)
	}
	last := int64(pts[len(pts)-1][0])
	e.get(fmt.Sprintf("/api/history?series=queue:jobs:visible&since_ms=%d", last), &h)
	for _, p := range h.Series["queue:jobs:visible"] {
		if int64(p[0]) <= last {
			t.Fatalf("since_ms returned an old point %v", p)
		}
	}

	// ---- metrics ----
	mf := e.scrape()
	metric := func(name string, labels ...string) float64 {
		t.Helper()
		fam := mf[name]
		if fam == nil {
			t.Fatalf("metric %s missing", name)
		}
	next:
		for _, m := range fam.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("metric %s%v missing", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"sluice_topic_partitions", []string{"topic", "orders"}, 3},
		{"sluice_partition_log_end_offset", []string{"topic", "orders", "partition", "2"}, 10},
		{"sluice_partition_log_start_offset", []string{"topic", "orders", "partition", "2"}, 0},
		{"sluice_topic_produced_records_total", []string{"topic", "orders"}, 30},
		{"sluice_group_committed_offset", []string{"group", "billing", "topic", "orders", "partition", "1"}, 7},
		{"sluice_group_lag", []string{"group", "billing", "topic", "orders", "partition", "0"}, 6},
		{"sluice_queue_visible_messages", []string{"queue", "jobs"}, 6},
		{"sluice_queue_inflight_messages", []string{"queue", "jobs"}, 1},
		{"sluice_queue_delayed_messages", []string{"queue", "jobs"}, 0},
		{"sluice_queue_sent_messages_total", []string{"queue", "jobs"}, 5 + 3}, // moves in count as sends
		{"sluice_queue_received_messages_total", []string{"queue", "jobs"}, 2},
		{"sluice_queue_deleted_messages_total", []string{"queue", "jobs"}, 1},
		{"sluice_queue_visible_messages", []string{"queue", "jobs-dlq"}, 0},
		{"sluice_queue_deleted_messages_total", []string{"queue", "jobs-dlq"}, 1}, // the purge (moves out are not deletes)
		{"sluice_sqs_requests_total", []string{"action", "SendMessage"}, 5},
		{"sluice_sqs_request_duration_seconds", []string{"action", "SendMessage"}, 5},
		{"sluice_sqs_requests_total", []string{"action", "ReceiveMessage"}, 1},
		{"sluice_alert_firing", []string{"rule", "dlq"}, 0},
		{"sluice_build_info", nil, 1},
	}
	for _, c := range checks {
		if got := metric(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := metric("sluice_partition_size_bytes", "topic", "orders", "partition", "0"); got <= 0 {
		t.Errorf("partition size = %v", got)
	}
	if got := metric("sluice_topic_fetched_records_total", "topic", "orders"); got < 30 {
		t.Errorf("fetched records = %v", got)
	}
	if got := metric("sluice_topic_produced_bytes_total", "topic", "orders"); got <= 0 {
		t.Errorf("produced bytes = %v", got)
	}
	if got := metric("sluice_kafka_requests_total", "api", "Produce"); got < 1 {
		t.Errorf("Produce requests = %v", got)
	}
	if got := metric("sluice_kafka_request_duration_seconds", "api", "Fetch"); got < 1 {
		t.Errorf("Fetch latency samples = %v", got)
	}
	if got := metric("sluice_open_connections", "listener", "kafka"); got < 1 {
		t.Errorf("open Kafka connections = %v", got)
	}
	if got := metric("sluice_log_fsync_duration_seconds"); got < 1 {
		t.Errorf("fsyncs observed = %v", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "sluice_queue_oldest_message_age_seconds", "sluice_group_members"} {
		if mf[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	if fam := mf["sluice_queue_sent_messages_total"]; fam.GetType() != dto.MetricType_COUNTER {
		t.Errorf("sent total type %v", fam.GetType())
	}

	// Rates: records produced after the sampler has seen the topic.
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("late")}, &kgo.Record{Partition: 1, Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.get("/api/topics", &topics)
	if topics[0].ProduceRate <= 0 {
		t.Fatalf("produce_rate = %v after new records", topics[0].ProduceRate)
	}
	e.eventually("a produce_rate point", func() bool {
		e.get("/api/history?series=topic:orders:produce_rate", &h)
		for _, p := range h.Series["topic:orders:produce_rate"] {
			if p[1] > 0 {
				return true
			}
		}
		return false
	})

	// The dashboard is mounted at /.
	code, body := e.do("GET", "/", nil)
	if code != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("GET / = %d", code)
	}
}

func (e *env) scrape(hdr ...string) map[string]*dto.MetricFamily {
	e.t.Helper()
	code, body := e.do("GET", "/metrics", nil, hdr...)
	if code != 200 {
		e.t.Fatalf("/metrics = %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

func TestAuth(t *testing.T) {
	for _, metricsToo := range []bool{false, true} {
		e := startBroker(t, map[string]string{
			"http.auth.token":   "s3cret",
			"http.auth.basic":   "admin:pw",
			"http.auth.metrics": fmt.Sprint(metricsToo),
		})
		for _, path := range []string{"/api/overview", "/api/queues", "/"} {
			if code, _ := e.do("GET", path, nil); code != 401 {
				t.Errorf("%s without credentials = %d", path, code)
			}
			for _, bad := range [][]string{
				{"Authorization", "Bearer wrong"},
				{"Authorization", "Basic YWRtaW46bm9wZQ=="}, // admin:nope
				{"Authorization", "s3cret"},
			} {
				if code, _ := e.do("GET", path, nil, bad...); code != 401 {
					t.Errorf("%s with %v = %d", path, bad, code)
				}
			}
			if code, _ := e.do("GET", path, nil, "Authorization", "Bearer s3cret"); code != 200 {
				t.Errorf("%s with the token = %d", path, code)
			}
			if code, _ := e.do("GET", path, nil, "Authorization", "Basic YWRtaW46cHc="); code != 200 { // admin:pw
				t.Errorf("%s with basic auth = %d", path, code)
			}
		}
		e.wantError("GET", "/api/overview", nil, 401, "unauthorized")
		if code, _ := e.do("GET", "/healthz", nil); code != 200 {
			t.Errorf("/healthz = %d", code)
		}
		code, _ := e.do("GET", "/metrics", nil)
		if want := map[bool]int{false: 200, true: 401}[metricsToo]; code != want {
			t.Errorf("/metrics with auth.metrics=%v = %d, want %d", metricsToo, code, want)
		}
		if metricsToo {
			e.scrape("Authorization", "Bearer s3cret")
		}
	}
}

// With a bearer token only, the dashboard's files load without it (a
// browser cannot attach the token to a page load; the app asks for it when
// the API answers 401); the API still needs it.
func TestAuthTokenOnly(t *testing.T) {
	e := startBroker(t, map[string]string{"http.auth.token": "s3cret"})
	if code, body := e.do("GET", "/", nil); code != 200 || !strings.Contains(string(body), "<html") {
		t.Fatalf("dashboard shell = %d", code)
	}
	req, _ := http.NewRequest("GET", e.base+"/api/queues", nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("/api/queues = %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if code, _ := e.do("GET", "/api/queues", nil, "Authorization", "bearer s3cret"); code != 200 {
		t.Fatalf("/api/queues with the token = %d", code)
	}
	if code, _ := e.do("GET", "/api", nil); code != 401 {
		t.Fatalf("/api = %d", code)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct{ key, value, wantName string }{
		{"http.auth.basic", "nopassword", "http.auth.basic"},
		{"http.auth.metrics", "yes", "http.auth.metrics"},
		{"http.history.interval", "1ms", "http.history.interval"},
		{"http.nonsense", "1", "http.nonsense"},
		{"alert.x.kind", "lag", "alert.x.target"}, // no target/threshold
		{"alert.webhook.url", "not a url", "alert.webhook.url"},
	} {
		_, err := broker.Open(broker.Config{DataDir: t.TempDir(), Settings: map[string]string{tc.key: tc.value}, Logger: slog.New(slog.DiscardHandler)})
		var se *broker.SettingError
		if !errors.As(err, &se) || se.Name != tc.wantName || !errors.Is(err, broker.ErrInvalidConfig) {
			t.Errorf("%s=%s: err = %v, want a SettingError naming %s", tc.key, tc.value, err, tc.wantName)
		}
	}
}
