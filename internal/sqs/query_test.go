package sqs

// query_test.go: the Query protocol through raw HTTP (form posts and GETs,
// XML checked element by element), and raw-HTTP error cases of both wire
// forms.

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Response documents as AWS documents them, for decoding.
type xmlSendResult struct {
	XMLName xml.Name `xml:"http://queue.amazonaws.com/doc/2012-11-05/ SendMessageResponse"`
	Result  struct {
		MessageId, MD5OfMessageBody, MD5OfMessageAttributes, MD5OfMessageSystemAttributes string
	} `xml:"SendMessageResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

type xmlReceiveResult struct {
	XMLName  xml.Name `xml:"ReceiveMessageResponse"`
	Messages []struct {
		MessageId, ReceiptHandle, MD5OfBody, Body, MD5OfMessageAttributes string
		Attribute                                                         []struct{ Name, Value string }
		MessageAttribute                                                  []struct {
			Name  string
			Value struct{ StringValue, BinaryValue, DataType string }
		}
	} `xml:"ReceiveMessageResult>Message"`
}

type xmlError struct {
	XMLName xml.Name `xml:"http://queue.amazonaws.com/doc/2012-11-05/ ErrorResponse"`
	Error   struct {
		Type, Code, Message string
		Detail              *struct{}
	}
	RequestID string `xml:"RequestId"`
}

func decodeXML(t *testing.T, r rawResponse, v any) {
	t.Helper()
	if err := xml.Unmarshal(r.body, v); err != nil {
		t.Fatalf("XML %s: %v", r.body, err)
	}
}

func (e *testEnv) query(path string, kv ...string) rawResponse {
	e.t.Helper()
	form := url.Values{"Version": {"2012-11-05"}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	return e.postForm(path, form)
}

func wantQueryError(t *testing.T, r rawResponse, status int, code string) xmlError {
	t.Helper()
	var x xmlError
	decodeXML(t, r, &x)
	if r.status != status || x.Error.Code != code || x.Error.Type != "Sender" || x.Error.Detail == nil || x.RequestID == "" {
		t.Fatalf("error %d %s, want %d %s", r.status, r.body, status, code)
	}
	return x
}

func TestQueryProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	name := e.name("query")
	r := e.query("/", "Action", "CreateQueue", "QueueName", name, "Attribute.1.Name", "VisibilityTimeout", "Attribute.1.Value", "40",
		"Tag.1.Key", "team", "Tag.1.Value", "q")
	want := `<?xml version="1.0"?><CreateQueueResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><CreateQueueResult><QueueUrl>` +
		e.endpoint + "/000000000000/" + name + `</QueueUrl></CreateQueueResult><ResponseMetadata><RequestId>`
	if r.status != 200 || !strings.HasPrefix(string(r.body), want) || r.header.Get("Content-Type") != "text/xml" {
		t.Fatalf("CreateQueue: %d %s", r.status, r.body)
	}
	qurl := e.endpoint + "/000000000000/" + name
	t.Cleanup(func() { e.query("/", "Action", "DeleteQueue", "QueueUrl", qurl) })
	qpath := "/000000000000/" + name

	// SendMessage posted to the queue URL's path, without QueueUrl, with
	// a SigV4 Authorization header (accepted, not checked).
	form := url.Values{"Action": {"SendMessage"}, "Version": {"2012-11-05"}, "MessageBody": {"hi <there> & \"you\"\r\n"},
		"MessageAttribute.1.Name": {"Foo"}, "MessageAttribute.1.Value.DataType": {"String"}, "MessageAttribute.1.Value.StringValue": {"Bar"},
		"MessageSystemAttribute.1.Name": {"AWSTraceHeader"}, "MessageSystemAttribute.1.Value.DataType": {"String"},
		"MessageSystemAttribute.1.Value.StringValue": {"Root=1-5759e988-bd862e3fe1be46a994272793"}}
	req, _ := http.NewRequest(http.MethodPost, e.endpoint+qpath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0123456789abcdef")
	r = e.do(req)
	var sent xmlSendResult
	decodeXML(t, r, &sent)
	if r.status != 200 || sent.Result.MD5OfMessageBody != md5Hex("hi <there> & \"you\"\r\n") ||
		sent.Result.MD5OfMessageAttributes != "ae7155c6026991b6d54b11589678bf9c" || sent.Result.MD5OfMessageSystemAttributes == "" ||
		sent.Result.MessageId == "" || sent.RequestID == "" {
		t.Fatalf("SendMessage: %d %s", r.status, r.body)
	}

	// ReceiveMessage as a GET with a presigned query string.
	get := e.endpoint + "/?" + url.Values{"Action": {"ReceiveMessage"}, "Version": {"2012-11-05"}, "QueueUrl": {qurl},
		"AttributeName.1": {"All"}, "MessageAttributeName.1": {"All"}, "WaitTimeSeconds": {"1"},
		"X-Amz-Algorithm": {"AWS4-HMAC-SHA256"}, "X-Amz-Credential": {"x/20260101/us-east-1/sqs/aws4_request"},
		"X-Amz-Signature": {"abc"}, "X-Amz-SignedHeaders": {"host"}}.Encode()
	req, _ = http.NewRequest(http.MethodGet, get, nil)
	r = e.do(req)
	var recv xmlReceiveResult
	decodeXML(t, r, &recv)
	if r.status != 200 || len(recv.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %d %s", r.status, r.body)
	}
	m := recv.Messages[0]
	// The body comes back exactly, \r included (escaped as &#xD;).
	if m.Body != "hi <there> & \"you\"\r\n" || m.MD5OfBody != md5Hex(m.Body) || m.MessageId != sent.Result.MessageId ||
		m.MD5OfMessageAttributes != "ae7155c6026991b6d54b11589678bf9c" || len(m.MessageAttribute) != 1 ||
		m.MessageAttribute[0].Name != "Foo" || m.MessageAttribute[0].Value.StringValue != "Bar" || m.MessageAttribute[0].Value.DataType != "String" {
		t.Fatalf("message %+v from %s", m, r.body)
	}
	sys := map[string]string{}
	for _, a := range m.Attribute {
		sys[a.Name] = a.Value
	}
	if sys["ApproximateReceiveCount"] != "1" || sys["AWSTraceHeader"] != "Root=1-5759e988-bd862e3fe1be46a994272793" || sys["SentTimestamp"] == "" {
		t.Fatalf("system attributes %v", sys)
	}
	if !strings.Contains(string(r.body), "&#xD;") {
		t.Fatalf("a carriage return must be escaped: %s", r.body)
	}
	r = e.query(qpath, "Action", "DeleteMessage", "ReceiptHandle", m.ReceiptHandle)
	if r.status != 200 || !r.has("<DeleteMessageResponse") || r.has("DeleteMessageResult") {
		t.Fatalf("DeleteMessage: %d %s", r.status, r.body)
	}

	// A batch with a binary attribute and one failing entry.
	r = e.query(qpath, "Action", "SendMessageBatch",
		"SendMessageBatchRequestEntry.1.Id", "one", "SendMessageBatchRequestEntry.1.MessageBody", "b1",
		"SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "test_attribute_name",
		"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "Binary",
		"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.BinaryValue", "dGVzdF9hdHRyaWJ1dGVfdmFsdWU=",
		"SendMessageBatchRequestEntry.2.Id", "two", "SendMessageBatchRequestEntry.2.MessageBody", "\x01")
	var batch struct {
		OK []struct {
			Id, MessageId, MD5OfMessageBody, MD5OfMessageAttributes string
		} `xml:"SendMessageBatchResult>SendMessageBatchResultEntry"`
		Failed []struct {
			Id, Code, Message string
			SenderFault       bool
		} `xml:"SendMessageBatchResult>BatchResultErrorEntry"`
	}
	decodeXML(t, r, &batch)
	// The binary attribute's digest is the AWS SDK sample value.
	if len(batch.OK) != 1 || batch.OK[0].Id != "one" || batch.OK[0].MD5OfMessageAttributes != "23f6bd27ea87aab7dfeadcc9aebee495" ||
		len(batch.Failed) != 1 || batch.Failed[0].Id != "two" || batch.Failed[0].Code != "InvalidMessageContents" || !batch.Failed[0].SenderFault {
		t.Fatalf("SendMessageBatch: %s", r.body)
	}

	// Attributes, tags, lists.
	r = e.query(qpath, "Action", "GetQueueAttributes", "AttributeName.1", "VisibilityTimeout", "AttributeName.2", "ApproximateNumberOfMessages")
	if !r.has("<Attribute><Name>ApproximateNumberOfMessages</Name><Value>1</Value></Attribute><Attribute><Name>VisibilityTimeout</Name><Value>40</Value></Attribute>") {
		t.Fatalf("GetQueueAttributes: %s", r.body)
	}
	r = e.query(qpath, "Action", "TagQueue", "Tag.1.Key", "env", "Tag.1.Value", "prod")
	if r.status != 200 {
		t.Fatalf("TagQueue: %s", r.body)
	}
	r = e.query(qpath, "Action", "ListQueueTags")
	if !r.has("<ListQueueTagsResult><Tag><Key>env</Key><Value>prod</Value></Tag><Tag><Key>team</Key><Value>q</Value></Tag></ListQueueTagsResult>") {
		t.Fatalf("ListQueueTags: %s", r.body)
	}
	r = e.query("/", "Action", "ListQueues", "QueueNamePrefix", name)
	if !r.has("<ListQueuesResult><QueueUrl>" + qurl + "</QueueUrl></ListQueuesResult>") {
		t.Fatalf("ListQueues: %s", r.body)
	}
	r = e.query("/", "Action", "GetQueueUrl", "QueueName", name)
	if !r.has("<GetQueueUrlResult><QueueUrl>" + qurl + "</QueueUrl></GetQueueUrlResult>") {
		t.Fatalf("GetQueueUrl: %s", r.body)
	}

	// Errors.
	x := wantQueryError(t, e.query("/", "Action", "GetQueueUrl", "QueueName", "missing-"+name), 400, "AWS.SimpleQueueService.NonExistentQueue")
	if x.Error.Message != "The specified queue does not exist for this wsdl version." {
		t.Fatalf("message %q", x.Error.Message)
	}
	wantQueryError(t, e.query("/", "Action", "NoSuchThing"), 400, "InvalidAction")
	wantQueryError(t, e.query("/", "QueueName", "x"), 400, "MissingAction")
	wantQueryError(t, e.query("/", "Action", "GetQueueUrl"), 400, "MissingParameter")
	wantQueryError(t, e.query("/", "Action", "AddPermission", "QueueUrl", qurl), 400, "AWS.SimpleQueueService.UnsupportedOperation")
	wantQueryError(t, e.query(qpath, "Action", "ReceiveMessage", "MaxNumberOfMessages", "11"), 400, "InvalidParameterValue")
	wantQueryError(t, e.query(qpath, "Action", "ReceiveMessage", "MaxNumberOfMessages", "many"), 400, "InvalidParameterValue")
	wantQueryError(t, e.query(qpath, "Action", "DeleteMessage", "ReceiptHandle", "forged"), 404, "ReceiptHandleIsInvalid")
	wantQueryError(t, e.query(qpath, "Action", "SendMessageBatch"), 400, "MissingParameter")
	wantQueryError(t, e.query(qpath, "Action", "SendMessageBatch", "Entries", ""), 400, "AWS.SimpleQueueService.EmptyBatchRequest")
	wantQueryError(t, e.query("/", "Action", "CreateQueue", "QueueName", "bad name!"), 400, "InvalidParameterValue")
	req, _ = http.NewRequest(http.MethodPost, e.endpoint+"/", strings.NewReader("Action=ListQueues&QueueNamePrefix=%zz"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantQueryError(t, e.do(req), 404, "MalformedQueryString")
	req, _ = http.NewRequest(http.MethodPost, e.endpoint+"/", strings.NewReader("<xml/>"))
	req.Header.Set("Content-Type", "text/xml")
	wantQueryError(t, e.do(req), 404, "MalformedQueryString")
	req, _ = http.NewRequest(http.MethodPut, e.endpoint+"/?Action=ListQueues", nil)
	wantQueryError(t, e.do(req), 400, "InvalidAction")
}

func TestJSONProtocolErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.create(e.name("jerr"), nil)
	tests := []struct {
		name, action, body string
		status             int
		typ, header        string
	}{
		{"unknown action", "NoSuchAction", `{}`, 400, "com.amazon.coral.service#UnknownOperationException", ""},
		{"unsupported", "AddPermission", `{}`, 400, "com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation;Sender"},
		{"malformed", "ListQueues", `{"QueueNamePrefix":`, 400, "com.amazon.coral.service#SerializationException", ""},
		{"wrong type", "ReceiveMessage", fmt.Sprintf(`{"QueueUrl":%q,"MaxNumberOfMessages":"ten"}`, u), 400, "com.amazon.coral.service#SerializationException", ""},
		{"not an object", "ListQueues", `[1,2]`, 400, "com.amazon.coral.service#SerializationException", ""},
		{"invalid UTF-8", "SendMessage", fmt.Sprintf("{\"QueueUrl\":%q,\"MessageBody\":\"\xc3\x28\"}", u), 400, "com.amazon.coral.service#SerializationException", ""},
		{"lone surrogate", "SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"\udc00"}`, u), 400, "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents;Sender"},
		{"control char", "SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"a\u0000b"}`, u), 400, "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents;Sender"},
		{"missing QueueUrl", "SendMessage", `{"MessageBody":"x"}`, 400, "com.amazon.coral.service#MissingRequiredParameterException", "MissingParameter;Sender"},
		{"missing body", "SendMessage", fmt.Sprintf(`{"QueueUrl":%q}`, u), 400, "com.amazon.coral.service#MissingRequiredParameterException", "MissingParameter;Sender"},
		{"empty body", "SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":""}`, u), 400, "com.amazon.coral.service#MissingRequiredParameterException", "MissingParameter;Sender"},
		{"no such queue", "GetQueueAttributes", `{"QueueUrl":"http://x/000000000000/nope","AttributeNames":["All"]}`, 400, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender"},
		{"bad queue url", "PurgeQueue", `{"QueueUrl":"http://x/"}`, 404, "com.amazonaws.sqs#InvalidAddress", "InvalidAddress;Sender"},
		{"wait 21", "ReceiveMessage", fmt.Sprintf(`{"QueueUrl":%q,"WaitTimeSeconds":21}`, u), 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"attempt id", "ReceiveMessage", fmt.Sprintf(`{"QueueUrl":%q,"ReceiveRequestAttemptId":"has space"}`, u), 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"queue name", "CreateQueue", `{"QueueName":"` + strings.Repeat("a", 81) + `"}`, 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"fifo name", "CreateQueue", `{"QueueName":"plain.fifo"}`, 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"bad attribute", "CreateQueue", `{"QueueName":"x","Attributes":{"MessageRetentionPeriod":"59"}}`, 400, "com.amazonaws.sqs#InvalidAttributeValue", "InvalidAttributeValue;Sender"},
		{"eleven attributes", "SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"x","MessageAttributes":{%s}}`, u, elevenAttrs()), 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
		{"oversize", "SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"%s"}`, u, strings.Repeat("x", 1<<20+1)), 400, "com.amazon.coral.service#InvalidParameterValueException", "InvalidParameterValue;Sender"},
	}
	for _, tt := range tests {
		r := e.postJSON(tt.action, tt.body)
		typ, msg := r.jsonErr(t)
		if r.status != tt.status || typ != tt.typ || r.header.Get("x-amzn-query-error") != tt.header || msg == "" && tt.typ != "" && !strings.Contains(tt.typ, "Unknown") {
			t.Errorf("%s: %d %s %q (header %q), want %d %s %q", tt.name, r.status, typ, msg, r.header.Get("x-amzn-query-error"), tt.status, tt.typ, tt.header)
		}
		if r.header.Get("x-amzn-RequestId") == "" || r.header.Get("Content-Type") != "application/x-amz-json-1.0" {
			t.Errorf("%s: headers %v", tt.name, r.header)
		}
	}
	// The oversize message's wording is AWS's.
	r := e.postJSON("SendMessage", fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"%s"}`, u, strings.Repeat("x", 1<<20+1)))
	if _, msg := r.jsonErr(t); !strings.Contains(msg, "Message must be shorter than 1048576 bytes") {
		t.Errorf("oversize message: %s", msg)
	}
	// JSON requests at a queue URL's path take QueueUrl from it.
	path := strings.TrimPrefix(u, e.endpoint)
	req, _ := http.NewRequest(http.MethodPost, e.endpoint+path, strings.NewReader(`{"MessageBody":"via path"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	if r := e.do(req); r.status != 200 || !regexp.MustCompile(`"MessageId":"[^"]+"`).Match(r.body) {
		t.Fatalf("JSON at a queue path: %d %s", r.status, r.body)
	}
}

func elevenAttrs() string {
	var parts []string
	for i := range 11 {
		parts = append(parts, fmt.Sprintf(`"a%d":{"DataType":"String","StringValue":"v"}`, i))
	}
	return strings.Join(parts, ",")
}

// TestRequestTooLarge: a body over MaxRequestBytes is refused (413) in the
// protocol's own error shape, and the server stays healthy.
func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	e := &testEnv{t: t, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(e.http.CloseIdleConnections)
	e.startServer(Config{MaxRequestBytes: 4096})
	e.client = e.newClient()
	r := e.postJSON("ListQueues", `{"QueueNamePrefix":"`+strings.Repeat("a", 5000)+`"}`)
	if typ, _ := r.jsonErr(t); r.status != 413 || typ != "com.amazon.coral.service#RequestEntityTooLargeException" {
		t.Fatalf("JSON: %d %s", r.status, r.body)
	}
	wantQueryErrorStatus(t, e.query("/", "Action", "ListQueues", "QueueNamePrefix", strings.Repeat("a", 5000)), 413, "RequestEntityTooLarge")
	if r := e.postJSON("ListQueues", `{}`); r.status != 200 {
		t.Fatalf("after: %d %s", r.status, r.body)
	}
}

func wantQueryErrorStatus(t *testing.T, r rawResponse, status int, code string) {
	t.Helper()
	var x xmlError
	decodeXML(t, r, &x)
	if r.status != status || x.Error.Code != code {
		t.Fatalf("%d %s, want %d %s", r.status, r.body, status, code)
	}
}

// TestCloseEndsLongPolls: Close returns promptly while a 20 s long poll is
// waiting, and Serve returns ErrServerClosed (checked in the cleanup).
func TestCloseEndsLongPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.inProcess()
	u := e.create(e.name("close"), nil)
	done := make(chan rawResponse, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.endpoint+"/", strings.NewReader(fmt.Sprintf(`{"QueueUrl":%q,"WaitTimeSeconds":20}`, u)))
		req.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
		resp, err := e.http.Do(req)
		if err != nil {
			done <- rawResponse{}
			return
		}
		resp.Body.Close()
		done <- rawResponse{status: resp.StatusCode}
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v with a long poll waiting", d)
	}
	select {
	case r := <-done:
		if r.status == 200 {
			t.Fatalf("the long poll succeeded across Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not end after Close")
	}
	// After Close: refused, never served.
	if _, err := e.http.Post(e.endpoint+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=ListQueues")); err == nil {
		t.Fatal("a request was served after Close")
	}
}
