package sqs

import (
	"encoding/base64"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// encodeQuery is the inverse of decodeQuery, as botocore's query
// serializer writes parameters (for tests and the fuzz round trip).
func encodeQuery(v any) url.Values {
	out := url.Values{}
	encodeQueryStruct(out, reflect.ValueOf(v).Elem(), "")
	return out
}

func encodeQueryStruct(out url.Values, v reflect.Value, prefix string) {
	for _, fi := range fieldsOf(v.Type()) {
		f := v.Field(fi.index)
		name := joinName(prefix, fi.name)
		switch f.Kind() {
		case reflect.Pointer:
			if f.IsNil() {
				continue
			}
			if fi.ptrToStruct {
				encodeQueryStruct(out, f.Elem(), name)
				continue
			}
			out.Set(name, scalarText(f.Elem()))
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Uint8 {
				if f.Len() > 0 {
					out.Set(name, base64.StdEncoding.EncodeToString(f.Bytes()))
				}
				continue
			}
			for i := 0; i < f.Len(); i++ {
				el := name + "." + strconv.Itoa(i+1)
				if fi.elemIsStruct {
					encodeQueryStruct(out, f.Index(i), el)
				} else {
					out.Set(el, scalarText(f.Index(i)))
				}
			}
		case reflect.Map:
			keys := f.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for i, k := range keys {
				entry := name + "." + strconv.Itoa(i+1)
				out.Set(entry+"."+fi.key, k.String())
				if fi.valueIsStruct {
					encodeQueryStruct(out, f.MapIndex(k), entry+"."+fi.value)
				} else {
					out.Set(entry+"."+fi.value, f.MapIndex(k).String())
				}
			}
		}
	}
}

// TestQueryDecodeBotocoreForm decodes parameters as botocore 1.29 (boto3
// 1.26, the Query protocol) writes them for a batch with attributes.
func TestQueryDecodeBotocoreForm(t *testing.T) {
	form := "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=http%3A%2F%2Flocalhost%3A9324%2F000000000000%2Fq" +
		"&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=hello" +
		"&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=color" +
		"&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=blue" +
		"&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String" +
		"&SendMessageBatchRequestEntry.1.MessageAttribute.2.Name=blob" +
		"&SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.BinaryValue=AAEC" +
		"&SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.DataType=Binary" +
		"&SendMessageBatchRequestEntry.1.DelaySeconds=5" +
		"&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=world" +
		"&SendMessageBatchRequestEntry.10.Id=j&SendMessageBatchRequestEntry.10.MessageBody=tenth"
	vals, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	var in SendMessageBatchRequest
	if err := decodeQuery(buildQueryTree(vals), &in); err != nil {
		t.Fatal(err)
	}
	if m := in.missing(); m != "" {
		t.Fatalf("missing %s", m)
	}
	if deref(in.QueueUrl) != "http://localhost:9324/000000000000/q" || len(in.Entries) != 3 {
		t.Fatalf("decoded %+v", in)
	}
	e := in.Entries[0]
	if *e.Id != "a" || *e.MessageBody != "hello" || *e.DelaySeconds != 5 {
		t.Fatalf("entry 1: %+v", e)
	}
	if a := e.MessageAttributes["color"]; *a.DataType != "String" || *a.StringValue != "blue" {
		t.Fatalf("color: %+v", a)
	}
	if a := e.MessageAttributes["blob"]; *a.DataType != "Binary" || string(a.BinaryValue) != "\x00\x01\x02" {
		t.Fatalf("blob: %+v", a)
	}
	// Numeric order, not string order: 1, 2, 10.
	if *in.Entries[1].Id != "b" || *in.Entries[2].Id != "j" {
		t.Fatalf("order: %s %s", *in.Entries[1].Id, *in.Entries[2].Id)
	}
}

func TestQueryDecodeNames(t *testing.T) {
	decode := func(form string, dst any) error {
		vals, err := url.ParseQuery(form)
		if err != nil {
			t.Fatal(err)
		}
		return decodeQuery(buildQueryTree(vals), dst)
	}
	var cq CreateQueueRequest
	if err := decode("QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=30&Tag.1.Key=team&Tag.1.Value=a", &cq); err != nil {
		t.Fatal(err)
	}
	if cq.Attributes["VisibilityTimeout"] != "30" || cq.Tags["team"] != "a" {
		t.Fatalf("CreateQueue: %+v", cq)
	}
	// TagQueue: botocore writes Tag.N (the shape's locationName); the
	// reference parameter list says Tags.N. Both are read.
	for _, form := range []string{"Tag.1.Key=k&Tag.1.Value=v", "Tags.1.Key=k&Tags.1.Value=v"} {
		var tq TagQueueRequest
		if err := decode(form, &tq); err != nil || tq.Tags["k"] != "v" {
			t.Fatalf("%s: %+v %v", form, tq, err)
		}
	}
	var rm ReceiveMessageRequest
	if err := decode("AttributeName.1=All&MessageAttributeName.1=foo.*&MaxNumberOfMessages=10&WaitTimeSeconds=20", &rm); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.AttributeNames, []string{"All"}) || !slices.Equal(rm.MessageAttributeNames, []string{"foo.*"}) || *rm.MaxNumberOfMessages != 10 {
		t.Fatalf("ReceiveMessage: %+v", rm)
	}
	// botocore sends an empty list as "<Member>=": an empty, non-nil list.
	var db DeleteMessageBatchRequest
	if err := decode("QueueUrl=x&Entries=", &db); err != nil || db.Entries == nil || len(db.Entries) != 0 {
		t.Fatalf("empty list: %+v %v", db, err)
	}
	var um UntagQueueRequest
	if err := decode("TagKey.1=a&TagKey.2=b", &um); err != nil || !slices.Equal(um.TagKeys, []string{"a", "b"}) {
		t.Fatalf("UntagQueue: %+v %v", um, err)
	}

	// Errors.
	var bad ReceiveMessageRequest
	if err := decode("MaxNumberOfMessages=ten", &bad); codeOf(err) != codeInvalidParameterValue {
		t.Fatalf("non-integer: %v", err)
	}
	if err := decode("MaxNumberOfMessages=99999999999", &bad); codeOf(err) != codeInvalidParameterValue {
		t.Fatalf("int32 overflow: %v", err)
	}
	var sm SendMessageRequest
	if err := decode("MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=x", &sm); codeOf(err) != codeMissingParameter {
		t.Fatalf("attribute without name: %v", err)
	}
	if err := decode("MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=***", &sm); codeOf(err) != codeInvalidParameterValue {
		t.Fatalf("bad base64: %v", err)
	}
	var sq SetQueueAttributesRequest
	if err := decode("Attribute.1.Name=DelaySeconds", &sq); codeOf(err) != codeMissingParameter {
		t.Fatalf("attribute without value: %v", err)
	}
	// Odd indexes are ignored rather than trusted.
	var gq GetQueueAttributesRequest
	if err := decode("AttributeName.0=A&AttributeName.01=B&AttributeName.x=C&AttributeName.99999999=D&AttributeName.2=E", &gq); err != nil || !slices.Equal(gq.AttributeNames, []string{"E"}) {
		t.Fatalf("odd indexes: %+v %v", gq, err)
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	ae, _ := toAPIError(err)
	return ae.code
}

// TestQueryRoundTrip: what encodeQuery writes, decodeQuery reads back.
func TestQueryRoundTrip(t *testing.T) {
	in := &SendMessageBatchRequest{QueueUrl: ptr("u"), Entries: []SendMessageBatchRequestEntry{{
		Id: ptr("1"), MessageBody: ptr("b<&>\"'\r\n"), DelaySeconds: ptr(int32(3)),
		MessageAttributes:       map[string]MessageAttributeValue{"s": strAttr("String", "v"), "b": binAttr("Binary", []byte{0, 255})},
		MessageSystemAttributes: map[string]MessageSystemAttributeValue{"AWSTraceHeader": {DataType: ptr("String"), StringValue: ptr("Root=1")}},
		MessageGroupId:          ptr("g"), MessageDeduplicationId: ptr("d"),
	}}}
	var out SendMessageBatchRequest
	if err := decodeQuery(buildQueryTree(encodeQuery(in)), &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, &out)
	}
}

func TestXMLResponse(t *testing.T) {
	out := &ReceiveMessageResult{Messages: []Message{{
		MessageId: ptr("m1"), ReceiptHandle: ptr("h1"), MD5OfBody: ptr("x"), Body: ptr(`a<b>&"c"` + "\r"),
		Attributes:        map[string]string{"SentTimestamp": "1", "ApproximateReceiveCount": "2"},
		MessageAttributes: map[string]MessageAttributeValue{"color": strAttr("String", "blue"), "bin": binAttr("Binary", []byte{1})},
	}}}
	got := string(queryResponse("ReceiveMessage", "rid", out))
	want := `<?xml version="1.0"?><ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">` +
		`<ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>h1</ReceiptHandle><MD5OfBody>x</MD5OfBody>` +
		`<Body>a&lt;b&gt;&amp;&quot;c&quot;&#xD;</Body>` +
		`<Attribute><Name>ApproximateReceiveCount</Name><Value>2</Value></Attribute>` +
		`<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>` +
		`<MessageAttribute><Name>bin</Name><Value><BinaryValue>AQ==</BinaryValue><DataType>Binary</DataType></Value></MessageAttribute>` +
		`<MessageAttribute><Name>color</Name><Value><StringValue>blue</StringValue><DataType>String</DataType></Value></MessageAttribute>` +
		`</Message></ReceiveMessageResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></ReceiveMessageResponse>`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// No output: no result element.
	got = string(queryResponse("DeleteMessage", "rid", &noOutput{}))
	want = `<?xml version="1.0"?><DeleteMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteMessageResponse>`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// ListDeadLetterSourceQueues: member queueUrls, elements QueueUrl.
	got = string(queryResponse("ListDeadLetterSourceQueues", "r", &ListDeadLetterSourceQueuesResult{QueueUrls: []string{"a", "b"}}))
	if !strings.Contains(got, "<ListDeadLetterSourceQueuesResult><QueueUrl>a</QueueUrl><QueueUrl>b</QueueUrl></ListDeadLetterSourceQueuesResult>") {
		t.Fatalf("dlq sources: %s", got)
	}
}

func TestErrorRendering(t *testing.T) {
	e := errorf(codeQueueDoesNotExist, "The specified queue does not exist.")
	q := resolve(e, false)
	if q.status != 400 || q.queryCode != "AWS.SimpleQueueService.NonExistentQueue" || q.message != "The specified queue does not exist for this wsdl version." {
		t.Fatalf("query: %+v", q)
	}
	want := `<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>The specified queue does not exist for this wsdl version.</Message><Detail/></Error><RequestId>r</RequestId></ErrorResponse>`
	if got := string(queryError(q, "r")); got != want {
		t.Fatalf("got %s", got)
	}
	j := resolve(e, true)
	if string(jsonError(j)) != `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}` || !j.header {
		t.Fatalf("json: %s %+v", jsonError(j), j)
	}
	// Engine codes in either form resolve to the same entry.
	for _, code := range []string{"QueueNameExists", "QueueAlreadyExists"} {
		if w := resolve(errorf(code, "x"), true); w.jsonType != "com.amazonaws.sqs#QueueNameExists" || w.queryCode != "QueueAlreadyExists" {
			t.Fatalf("%s: %+v", code, w)
		}
	}
	for code, want := range map[string]struct {
		status    int
		queryCode string
		jsonType  string
	}{
		"InvalidParameterValue":  {400, "InvalidParameterValue", "com.amazon.coral.service#InvalidParameterValueException"},
		"MissingParameter":       {400, "MissingParameter", "com.amazon.coral.service#MissingRequiredParameterException"},
		"PurgeQueueInProgress":   {403, "AWS.SimpleQueueService.PurgeQueueInProgress", "com.amazonaws.sqs#PurgeQueueInProgress"},
		"ReceiptHandleIsInvalid": {404, "ReceiptHandleIsInvalid", "com.amazonaws.sqs#ReceiptHandleIsInvalid"},
		"RequestThrottled":       {400, "RequestThrottled", "com.amazonaws.sqs#RequestThrottled"},
		"MessageTooLong":         {400, "InvalidParameterValue", "com.amazon.coral.service#InvalidParameterValueException"},
		"InternalError":          {500, "InternalError", "com.amazon.coral.service#InternalFailure"},
		"SomethingNew":           {400, "SomethingNew", "com.amazon.coral.service#SomethingNew"},
	} {
		w := resolve(errorf(code, "m"), true)
		if w.status != want.status || w.queryCode != want.queryCode || w.jsonType != want.jsonType {
			t.Errorf("%s: %+v, want %+v", code, w, want)
		}
	}
}

func TestUnpairedSurrogates(t *testing.T) {
	for in, want := range map[string]bool{
		`{"MessageBody":"plain"}`:            false,
		`{"MessageBody":"\ud83d\ude00"}`:     false, // a pair
		`{"MessageBody":"\ud83d"}`:           true,
		`{"MessageBody":"\ude00x"}`:          true,
		`{"MessageBody":"\ud83d\u0041"}`:     true,
		`{"MessageBody":"\\ud83d"}`:          false, // an escaped backslash, then text
		`{"MessageBody":"\"\ud800"}`:         true,
		`{"MessageBody":"x"} "\ud800"`:       true,
		`{"a\ud800":1}`:                      true,
		`{"MessageBody":"\ud83d\ude00\u12"}`: false, // malformed: left to the decoder
	} {
		if got := hasUnpairedSurrogate([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
	var in SendMessageRequest
	if err := decodeJSON([]byte(`{"MessageBody":"\ud800"}`), &in, true); codeOf(err) != "InvalidMessageContents" {
		t.Fatalf("send: %v", err)
	}
	if err := decodeJSON([]byte("{\"MessageBody\":\"\xff\"}"), &in, true); codeOf(err) != codeSerialization {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if err := decodeJSON([]byte(`{"MessageBody":"a"} {}`), &in, true); codeOf(err) != codeSerialization {
		t.Fatalf("trailing: %v", err)
	}
	if err := decodeJSON([]byte(`{"DelaySeconds":"5"}`), &in, true); codeOf(err) != codeSerialization {
		t.Fatalf("wrong type: %v", err)
	}
	if err := decodeJSON([]byte(`{"DelaySeconds":1.5}`), &in, true); codeOf(err) != codeSerialization {
		t.Fatalf("fraction: %v", err)
	}
}
