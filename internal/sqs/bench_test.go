package sqs

// bench_test.go: send, receive and delete through the HTTP API (JSON 1.0,
// batches of 10 messages of 1 KiB, one keep-alive connection per client),
// and the send -> receive -> delete-batch pipeline. Every send is answered
// after the fsync that covers it.
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/sqs/

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// benchEnv is a server with one queue and a raw JSON client.
type benchEnv struct {
	*testEnv
	url string
}

func newBench(b *testing.B) *benchEnv {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	e := &testEnv{t: b, http: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
	b.Cleanup(tr.CloseIdleConnections)
	e.startServer(Config{})
	e.client = e.newClient()
	be := &benchEnv{testEnv: e}
	r := e.postJSON("CreateQueue", `{"QueueName":"bench","Attributes":{"VisibilityTimeout":"300"}}`)
	if r.status != 200 {
		b.Fatalf("CreateQueue: %s", r.body)
	}
	var out CreateQueueResult
	if err := json.Unmarshal(r.body, &out); err != nil {
		b.Fatal(err)
	}
	be.url = *out.QueueUrl
	return be
}

var body1K = strings.Repeat("x", 1024)

func (be *benchEnv) sendBody(n int) string {
	var es []string
	for i := range n {
		es = append(es, fmt.Sprintf(`{"Id":"m%d","MessageBody":%q}`, i, body1K))
	}
	return fmt.Sprintf(`{"QueueUrl":%q,"Entries":[%s]}`, be.url, strings.Join(es, ","))
}

func (be *benchEnv) call(b *testing.B, action, body string) []byte {
	req, _ := http.NewRequest(http.MethodPost, be.endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	resp, err := be.http.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d %s", action, resp.StatusCode, data)
	}
	return data
}

func (be *benchEnv) receive(b *testing.B) []string {
	data := be.call(b, "ReceiveMessage", fmt.Sprintf(`{"QueueUrl":%q,"MaxNumberOfMessages":10,"WaitTimeSeconds":1}`, be.url))
	var out ReceiveMessageResult
	if err := json.Unmarshal(data, &out); err != nil {
		b.Fatal(err)
	}
	hs := make([]string, len(out.Messages))
	for i, m := range out.Messages {
		hs[i] = *m.ReceiptHandle
	}
	return hs
}

func (be *benchEnv) deleteBody(handles []string) string {
	var es []string
	for i, h := range handles {
		es = append(es, fmt.Sprintf(`{"Id":"d%d","ReceiptHandle":%q}`, i, h))
	}
	return fmt.Sprintf(`{"QueueUrl":%q,"Entries":[%s]}`, be.url, strings.Join(es, ","))
}

func reportRate(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkSendBatch(b *testing.B) {
	be := newBench(b)
	body := be.sendBody(10)
	b.SetBytes(10 * 1024)
	b.ResetTimer()
	for range b.N {
		be.call(b, "SendMessageBatch", body)
	}
	reportRate(b, 10*b.N)
}

func BenchmarkReceiveBatch(b *testing.B) {
	be := newBench(b)
	body := be.sendBody(10)
	for range b.N {
		be.call(b, "SendMessageBatch", body)
	}
	b.SetBytes(10 * 1024)
	b.ResetTimer()
	got := 0
	for range b.N {
		got += len(be.receive(b))
	}
	reportRate(b, got)
}

func BenchmarkDeleteBatch(b *testing.B) {
	be := newBench(b)
	body := be.sendBody(10)
	var dels []string
	for range b.N {
		be.call(b, "SendMessageBatch", body)
	}
	for len(dels) < b.N {
		hs := be.receive(b)
		if len(hs) == 0 {
			b.Fatalf("only %d batches received", len(dels))
		}
		dels = append(dels, be.deleteBody(hs))
	}
	b.ResetTimer()
	for i := range b.N {
		be.call(b, "DeleteMessageBatch", dels[i])
	}
	reportRate(b, 10*b.N)
}

// BenchmarkPipeline: one client sending a batch, receiving it and
// deleting it, in turn.
func BenchmarkPipeline(b *testing.B) {
	be := newBench(b)
	body := be.sendBody(10)
	b.SetBytes(10 * 1024)
	b.ResetTimer()
	moved := 0
	for range b.N {
		be.call(b, "SendMessageBatch", body)
		hs := be.receive(b)
		if len(hs) > 0 {
			be.call(b, "DeleteMessageBatch", be.deleteBody(hs))
		}
		moved += len(hs)
	}
	reportRate(b, moved)
}

// BenchmarkPipelineParallel: 8 producers and 8 consumers at once; group
// commit lets concurrent sends share fsyncs.
func BenchmarkPipelineParallel(b *testing.B) {
	be := newBench(b)
	body := be.sendBody(10)
	b.SetBytes(10 * 1024)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			be.call(b, "SendMessageBatch", body)
			if hs := be.receive(b); len(hs) > 0 {
				be.call(b, "DeleteMessageBatch", be.deleteBody(hs))
			}
		}
	})
	reportRate(b, 10*b.N)
}
