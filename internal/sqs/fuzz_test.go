package sqs

// fuzz_test.go: the request parsing of both wire forms, end to end through
// ServeHTTP against a real queue engine. Whatever the input, the server
// must answer with a well-formed document in the protocol's shape and never
// fail internally (HTTP 500 is how a recovered panic shows). Seeds cover
// every action in both forms, valid and broken.
//
//	go test -run '^$' -fuzz FuzzJSONRequest -fuzztime 60s ./internal/sqs/
//	go test -run '^$' -fuzz FuzzQueryRequest -fuzztime 60s ./internal/sqs/

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mq/sluice/internal/metastore"
	"github.com/sluice-mq/sluice/internal/queue"
)

const fuzzHost = "127.0.0.1:9324"

// fuzzServer is one server per fuzz process over a temporary directory,
// with a standard queue "fz", a FIFO queue "fz.fifo" and a DLQ "fzdlq".
func fuzzServer(f *testing.F) *Server {
	dir := f.TempDir()
	meta, err := metastore.Open(filepath.Join(dir, "meta"))
	if err != nil {
		f.Fatal(err)
	}
	m, err := queue.Open(queue.Config{DataDir: dir, Meta: meta, Logger: quiet()})
	if err != nil {
		f.Fatal(err)
	}
	dlq, err := m.Create("fzdlq", nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := m.Create("fz", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + m.ARN(dlq.Name()) + `","maxReceiveCount":2}`}, nil); err != nil {
		f.Fatal(err)
	}
	if _, err := m.Create("fz.fifo", map[string]string{"FifoQueue": "true"}, nil); err != nil {
		f.Fatal(err)
	}
	s := NewServer(Config{Queues: m, Logger: quiet(), MaxRequestBytes: 1 << 20})
	f.Cleanup(func() {
		s.Close()
		m.Close()
		meta.Close()
	})
	return s
}

// serve runs one request with a short deadline (so that fuzzed long polls
// do not stall the fuzzer) and returns the recorded answer.
func serve(s *Server, req *http.Request) *httptest.ResponseRecorder {
	ctx, cancel := context.WithTimeout(req.Context(), 200*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req.WithContext(ctx))
	return rec
}

var fuzzMu sync.Mutex // the engine is shared; keep executions sequential per process

func FuzzJSONRequest(f *testing.F) {
	q := "http://" + fuzzHost + "/000000000000/fz"
	fq := "http://" + fuzzHost + "/000000000000/fz.fifo"
	seeds := []struct{ action, path, body string }{
		{"CreateQueue", "/", `{"QueueName":"fzn","Attributes":{"VisibilityTimeout":"5"},"tags":{"a":"b"}}`},
		{"CreateQueue", "/", `{"QueueName":"bad name"}`},
		{"ListQueues", "/", `{"QueueNamePrefix":"fz","MaxResults":1}`},
		{"ListQueues", "/", `{"NextToken":"MTpmeg"}`},
		{"GetQueueUrl", "/", `{"QueueName":"fz"}`},
		{"GetQueueAttributes", "/", `{"QueueUrl":"` + q + `","AttributeNames":["All"]}`},
		{"SetQueueAttributes", "/", `{"QueueUrl":"` + q + `","Attributes":{"DelaySeconds":"0"}}`},
		{"SendMessage", "/", `{"QueueUrl":"` + q + `","MessageBody":"hi","MessageAttributes":{"a":{"DataType":"String","StringValue":"v"},"b":{"DataType":"Binary","BinaryValue":"AAE="}},"MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String","StringValue":"Root=1"}}}`},
		{"SendMessage", "/000000000000/fz", `{"MessageBody":"via path","DelaySeconds":0}`},
		{"SendMessage", "/", `{"QueueUrl":"` + fq + `","MessageBody":"f","MessageGroupId":"g","MessageDeduplicationId":"d"}`},
		{"SendMessage", "/", `{"QueueUrl":"` + q + `","MessageBody":"\ud800"}`},
		{"SendMessageBatch", "/", `{"QueueUrl":"` + q + `","Entries":[{"Id":"a","MessageBody":"1"},{"Id":"b","MessageBody":"\u0001"}]}`},
		{"SendMessageBatch", "/", `{"QueueUrl":"` + q + `","Entries":[]}`},
		{"ReceiveMessage", "/", `{"QueueUrl":"` + q + `","MaxNumberOfMessages":10,"VisibilityTimeout":0,"MessageAttributeNames":["All"],"MessageSystemAttributeNames":["All"]}`},
		{"ReceiveMessage", "/", `{"QueueUrl":"` + fq + `","ReceiveRequestAttemptId":"x","WaitTimeSeconds":1}`},
		{"DeleteMessage", "/", `{"QueueUrl":"` + q + `","ReceiptHandle":"forged"}`},
		{"DeleteMessageBatch", "/", `{"QueueUrl":"` + q + `","Entries":[{"Id":"a","ReceiptHandle":"x"}]}`},
		{"ChangeMessageVisibility", "/", `{"QueueUrl":"` + q + `","ReceiptHandle":"x","VisibilityTimeout":5}`},
		{"ChangeMessageVisibilityBatch", "/", `{"QueueUrl":"` + q + `","Entries":[{"Id":"a","ReceiptHandle":"x","VisibilityTimeout":0}]}`},
		{"PurgeQueue", "/", `{"QueueUrl":"http://h/000000000000/fzn"}`},
		{"TagQueue", "/", `{"QueueUrl":"` + q + `","Tags":{"k":"v"}}`},
		{"UntagQueue", "/", `{"QueueUrl":"` + q + `","TagKeys":["k"]}`},
		{"ListQueueTags", "/", `{"QueueUrl":"` + q + `"}`},
		{"ListDeadLetterSourceQueues", "/", `{"QueueUrl":"http://h/000000000000/fzdlq"}`},
		{"StartMessageMoveTask", "/", `{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:fzdlq","MaxNumberOfMessagesPerSecond":1}`},
		{"ListMessageMoveTasks", "/", `{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:fzdlq","MaxResults":10}`},
		{"CancelMessageMoveTask", "/", `{"TaskHandle":"eyJ9"}`},
		{"DeleteQueue", "/", `{"QueueUrl":"http://h/000000000000/fzn"}`},
		{"Nope", "/", `{}`},
		{"ListQueues", "/", `{"QueueNamePrefix":`},
		{"ListQueues", "/", "\xff"},
	}
	for _, s := range seeds {
		f.Add(s.action, s.path, []byte(s.body))
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, action, path string, body []byte) {
		path = fuzzPath(path)
		req := httptest.NewRequest(http.MethodPost, "http://"+fuzzHost+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
		fuzzMu.Lock()
		rec := serve(s, req)
		fuzzMu.Unlock()
		checkJSONAnswer(t, rec)
	})
}

// fuzzPath keeps fuzzed request paths that an HTTP client could send.
func fuzzPath(p string) string {
	if !strings.HasPrefix(p, "/") || len(p) > 200 || strings.ContainsAny(p, "?#") {
		return "/"
	}
	// A request line cannot carry spaces or control characters (the
	// request target ends at the first space); httptest.NewRequest panics
	// on them rather than the server seeing them.
	if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "/"
	}
	if _, err := url.ParseRequestURI("http://" + fuzzHost + p); err != nil {
		return "/"
	}
	return p
}

func checkJSONAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code == http.StatusInternalServerError {
		t.Fatalf("internal error: %s", rec.Body)
	}
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer is not a JSON object (%v): %q", err, rec.Body)
	}
	if rec.Code >= 400 {
		if typ, _ := v["__type"].(string); typ == "" {
			t.Fatalf("error without __type: %s", rec.Body)
		}
	} else if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
}

func FuzzQueryRequest(f *testing.F) {
	q := "http://" + fuzzHost + "/000000000000/fz"
	seeds := []struct{ path, form string }{
		{"/", "Action=CreateQueue&Version=2012-11-05&QueueName=fzq&Attribute.1.Name=DelaySeconds&Attribute.1.Value=0&Tag.1.Key=a&Tag.1.Value=b"},
		{"/", "Action=ListQueues&QueueNamePrefix=fz&MaxResults=2"},
		{"/", "Action=GetQueueUrl&QueueName=fz"},
		{"/000000000000/fz", "Action=GetQueueAttributes&AttributeName.1=All"},
		{"/000000000000/fz", "Action=SetQueueAttributes&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=10"},
		{"/000000000000/fz", "Action=SendMessage&MessageBody=hi&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v&MessageAttribute.2.Name=b&MessageAttribute.2.Value.DataType=Binary&MessageAttribute.2.Value.BinaryValue=AAE%3D"},
		{"/", "Action=SendMessage&QueueUrl=" + q + "&MessageBody=%01"},
		{"/000000000000/fz.fifo", "Action=SendMessage&MessageBody=f&MessageGroupId=g&MessageDeduplicationId=d"},
		{"/000000000000/fz", "Action=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=1&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=2&SendMessageBatchRequestEntry.2.DelaySeconds=1"},
		{"/000000000000/fz", "Action=SendMessageBatch&Entries="},
		{"/000000000000/fz", "Action=ReceiveMessage&MaxNumberOfMessages=10&VisibilityTimeout=0&AttributeName.1=All&MessageAttributeName.1=All"},
		{"/000000000000/fz", "Action=DeleteMessage&ReceiptHandle=forged"},
		{"/000000000000/fz", "Action=DeleteMessageBatch&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=x"},
		{"/000000000000/fz", "Action=ChangeMessageVisibility&ReceiptHandle=x&VisibilityTimeout=3"},
		{"/000000000000/fz", "Action=ChangeMessageVisibilityBatch&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=x&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=1"},
		{"/000000000000/fzq", "Action=PurgeQueue"},
		{"/000000000000/fz", "Action=TagQueue&Tag.1.Key=k&Tag.1.Value=v"},
		{"/000000000000/fz", "Action=UntagQueue&TagKey.1=k"},
		{"/000000000000/fz", "Action=ListQueueTags"},
		{"/000000000000/fzdlq", "Action=ListDeadLetterSourceQueues&MaxResults=1"},
		{"/", "Action=StartMessageMoveTask&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Afzdlq"},
		{"/", "Action=ListMessageMoveTasks&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Afzdlq"},
		{"/", "Action=CancelMessageMoveTask&TaskHandle=x"},
		{"/000000000000/fzq", "Action=DeleteQueue"},
		{"/", "Action=Bogus"},
		{"/", "QueueName=x"},
		{"/", "Action=ListQueues&QueueNamePrefix=%zz"},
		{"/", "Action=SendMessage&QueueUrl=" + q + "&MessageBody=x&MessageAttribute.1.Value.DataType=String"},
		{"/", "Action=ReceiveMessage&QueueUrl=" + q + "&MaxNumberOfMessages=99999999999999"},
		{"/", "Action=SendMessage&QueueUrl=" + q + "&MessageBody=%C3%28"},
	}
	for _, s := range seeds {
		f.Add(s.path, s.form)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, path, form string) {
		path = fuzzPath(path)
		req := httptest.NewRequest(http.MethodPost, "http://"+fuzzHost+path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fuzzMu.Lock()
		rec := serve(s, req)
		fuzzMu.Unlock()
		checkXMLAnswer(t, rec)
	})
}

func checkXMLAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code == http.StatusInternalServerError {
		t.Fatalf("internal error: %s", rec.Body)
	}
	dec := xml.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	var root string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("malformed XML (%v): %q", err, rec.Body)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
			if se.Name.Space != xmlNamespace {
				t.Fatalf("namespace %q", se.Name.Space)
			}
		}
	}
	switch {
	case rec.Code == 200 && strings.HasSuffix(root, "Response") && root != "ErrorResponse":
	case rec.Code >= 400 && root == "ErrorResponse":
	default:
		t.Fatalf("status %d with root <%s>: %s", rec.Code, root, rec.Body)
	}
}
