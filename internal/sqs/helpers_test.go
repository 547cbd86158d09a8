package sqs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/sluice-mq/sluice/internal/metastore"
	"github.com/sluice-mq/sluice/internal/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// envEndpoint runs the SDK tests against an external SQS endpoint (a
// running `sluice serve`, or another SQS implementation) instead of an
// in-process server, as franz-go's suite runs against KGO_SEEDS. Tests that
// need the in-process engine skip then.
const envEndpoint = "SLUICE_SQS_TEST_ENDPOINT"

// testEnv is an in-process server (or an external endpoint).
type testEnv struct {
	t        testing.TB
	endpoint string // http://127.0.0.1:port
	srv      *Server
	m        *queue.Manager
	client   *sqs.Client
	http     *http.Client
	prefix   string // queue-name prefix unique to the test
}

// newEnv starts a queue manager on t.TempDir and a server on 127.0.0.1:0.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	e.http = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	e.prefix = strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	if len(e.prefix) > 40 {
		e.prefix = e.prefix[:40]
	}
	e.prefix += "-" + time.Now().Format("150405.000")[7:] // reruns against one endpoint differ
	if ep := os.Getenv(envEndpoint); ep != "" {
		e.endpoint = ep
	} else {
		e.startServer(Config{})
	}
	e.client = e.newClient()
	return e
}

func (e *testEnv) startServer(cfg Config) {
	t := e.t
	dir := t.TempDir()
	meta, err := metastore.Open(filepath.Join(dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := queue.Open(queue.Config{DataDir: dir, Meta: meta, Logger: quiet()})
	if err != nil {
		meta.Close()
		t.Fatal(err)
	}
	cfg.Queues, cfg.Logger = m, quiet()
	s := NewServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("manager Close: %v", err)
		}
		meta.Close()
	})
	e.srv, e.m = s, m
	e.endpoint = "http://" + ln.Addr().String()
}

// inProcess skips tests that need the in-process engine.
func (e *testEnv) inProcess() {
	if e.srv == nil {
		e.t.Skip("needs the in-process server (" + envEndpoint + " is set)")
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newClient is an aws-sdk-go-v2 SQS client for the endpoint, configured as
// a user would: static credentials, a region, BaseEndpoint. (Not
// config.LoadDefaultConfig: the tests must not depend on the machine's
// AWS_* environment or ~/.aws files.)
func (e *testEnv) newClient() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:       e.http,
		BaseEndpoint:     aws.String(e.endpoint),
		RetryMaxAttempts: 1,
	})
}

func (e *testEnv) name(suffix string) string { return e.prefix + "-" + suffix }

// create makes a queue and returns its URL.
func (e *testEnv) create(name string, attrs map[string]string) string {
	e.t.Helper()
	out, err := e.client.CreateQueue(ctx(e.t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		e.t.Fatalf("CreateQueue %s: %v", name, err)
	}
	url := aws.ToString(out.QueueUrl)
	e.t.Cleanup(func() {
		e.client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: &url})
	})
	return url
}

func (e *testEnv) arn(url string) string {
	e.t.Helper()
	return e.attrs(url, "QueueArn")["QueueArn"]
}

func (e *testEnv) attrs(url string, names ...string) map[string]string {
	e.t.Helper()
	var ns []sqsAttrName
	for _, n := range names {
		ns = append(ns, sqsAttrName(n))
	}
	out, err := e.client.GetQueueAttributes(ctx(e.t), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: ns})
	if err != nil {
		e.t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// apiCode returns the error code the SDK reports (the legacy Query code
// from x-amzn-query-error when present) and the HTTP status.
func apiCode(err error) (string, int) {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", 0
	}
	status := 0
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	got, st := apiCode(err)
	if got != code || (status != 0 && st != status) {
		t.Fatalf("error %v: code %q status %d, want %q %d", err, got, st, code, status)
	}
}

// rawResponse is an HTTP answer read whole.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// postJSON sends a raw JSON 1.0 request.
func (e *testEnv) postJSON(action string, body string) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.endpoint+"/", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	return e.do(req)
}

// postForm sends a raw Query request to path (/ or a queue URL's path).
func (e *testEnv) postForm(path string, form url.Values) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.endpoint+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return e.do(req)
}

func (e *testEnv) do(req *http.Request) rawResponse {
	e.t.Helper()
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// jsonErr decodes a JSON error body.
func (r rawResponse) jsonErr(t testing.TB) (typ, msg string) {
	t.Helper()
	var v struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return v.Type, v.Message
}

func (r rawResponse) has(s string) bool { return bytes.Contains(r.body, []byte(s)) }
