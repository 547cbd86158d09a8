package sqs

import (
	"strings"
	"testing"
)

func TestCheckBody(t *testing.T) {
	ok := []string{"a", "tab\tnl\ncr\r", "\u00e9\u4e2d\U0001F600", "\uE000\uFFFD", "\U0010FFFF", strings.Repeat("x", 1<<20)}
	for _, s := range ok {
		if err := checkBody(&s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"\x00", "a\x01", "\x1f", "\uFFFE", "\uFFFF", "\xff", "ok\xc3", "\xed\xa0\x80" /* encoded surrogate */}
	for _, s := range bad {
		if err := checkBody(&s); codeOf(err) != "InvalidMessageContents" {
			t.Errorf("%q: %v, want InvalidMessageContents", s, err)
		}
	}
	empty := ""
	if err := checkBody(&empty); codeOf(err) != codeMissingParameter {
		t.Errorf("empty body: %v", err)
	}
	if err := checkBody(nil); codeOf(err) != codeMissingParameter {
		t.Errorf("no body: %v", err)
	}
}

func TestCheckAttributes(t *testing.T) {
	good := map[string]MessageAttributeValue{
		"a":          strAttr("String", "x"),
		"n.1":        strAttr("Number", "-12.5e3"),
		"b_-":        binAttr("Binary", []byte{0}),
		"custom":     strAttr("String.json", "{}"),
		"big":        strAttr("Number", "12345678901234567890123456789012345678"),
		"Amazonia":   strAttr("String", "not reserved"),
		"bin.custom": binAttr("Binary.gif", []byte("GIF")),
	}
	conv, size, err := checkAttributes(good, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(conv) != len(good) || size == 0 || *conv["a"].StringValue != "x" || conv["b_-"].BinaryValue[0] != 0 {
		t.Fatalf("converted %+v (size %d)", conv, size)
	}
	tooMany := map[string]MessageAttributeValue{}
	for i := range 11 {
		tooMany[string(rune('a'+i))] = strAttr("String", "x")
	}
	bad := map[string]map[string]MessageAttributeValue{
		"eleven":            tooMany,
		"reserved AWS.":     {"AWS.x": strAttr("String", "x")},
		"reserved amazon.":  {"amazon.x": strAttr("String", "x")},
		"leading period":    {".x": strAttr("String", "x")},
		"trailing period":   {"x.": strAttr("String", "x")},
		"double period":     {"a..b": strAttr("String", "x")},
		"bad char":          {"a b": strAttr("String", "x")},
		"long name":         {strings.Repeat("a", 257): strAttr("String", "x")},
		"no type":           {"a": {StringValue: ptr("x")}},
		"bad type":          {"a": strAttr("Text", "x")},
		"empty string":      {"a": strAttr("String", "")},
		"no value":          {"a": {DataType: ptr("String")}},
		"binary as string":  {"a": strAttr("Binary", "x")},
		"empty binary":      {"a": binAttr("Binary", nil)},
		"not a number":      {"a": strAttr("Number", "12abc")},
		"39 digits":         {"a": strAttr("Number", "123456789012345678901234567890123456789")},
		"too large":         {"a": strAttr("Number", "1e127")},
		"control character": {"a": strAttr("String", "x\x00")},
		"string list":       {"a": {DataType: ptr("String"), StringListValues: []string{"x"}}},
	}
	for name, attrs := range bad {
		if _, _, err := checkAttributes(attrs, false); codeOf(err) != codeInvalidParameterValue {
			t.Errorf("%s: %v, want InvalidParameterValue", name, err)
		}
	}
	// System attributes: only AWSTraceHeader, a String.
	if _, _, err := checkAttributes(map[string]MessageAttributeValue{"AWSTraceHeader": strAttr("String", "Root=1-5759e988-bd862e3fe1be46a994272793")}, true); err != nil {
		t.Fatal(err)
	}
	for _, a := range []map[string]MessageAttributeValue{
		{"Other": strAttr("String", "x")},
		{"AWSTraceHeader": binAttr("Binary", []byte{1})},
	} {
		if _, _, err := checkAttributes(a, true); codeOf(err) != codeInvalidParameterValue {
			t.Errorf("system %v: %v", a, err)
		}
	}
}

func TestCheckBatchIDs(t *testing.T) {
	ids := func(s ...string) func(int) string { return func(i int) string { return s[i] } }
	tests := []struct {
		ids  []string
		want string
	}{
		{[]string{"a", "B-1", "c_2"}, ""},
		{nil, "EmptyBatchRequest"},
		{strings.Split("a b c d e f g h i j k", " "), "TooManyEntriesInBatchRequest"},
		{[]string{"a", "a"}, "BatchEntryIdsNotDistinct"},
		{[]string{"a b"}, "InvalidBatchEntryId"},
		{[]string{""}, "InvalidBatchEntryId"},
		{[]string{strings.Repeat("x", 81)}, "InvalidBatchEntryId"},
		{[]string{strings.Repeat("x", 80)}, ""},
	}
	for _, tt := range tests {
		err := checkBatchIDs(len(tt.ids), ids(tt.ids...), "Entry")
		if codeOf(err) != tt.want {
			t.Errorf("%q: %v, want %q", tt.ids, err, tt.want)
		}
	}
}

func TestWantAttribute(t *testing.T) {
	for _, tt := range []struct {
		name     string
		patterns []string
		want     bool
	}{
		{"a", []string{"All"}, true},
		{"a", []string{".*"}, true},
		{"foo.bar", []string{"foo.*"}, true},
		{"foo", []string{"foo.*"}, false},
		{"foobar", []string{"foo.*"}, false},
		{"x", []string{"y", "x"}, true},
		{"x", []string{"y"}, false},
	} {
		if got := wantAttribute(tt.name, tt.patterns); got != tt.want {
			t.Errorf("%s %v: %v", tt.name, tt.patterns, got)
		}
	}
}

func TestQueueName(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9324/000000000000/q1":          "q1",
		"https://sqs.us-east-1.amazonaws.com/123/q.fifo": "q.fifo",
		"http://localhost:9324/queue/q2":                 "q2",
		"/000000000000/q3/":                              "q3",
		"q4":                                             "q4",
	} {
		got, err := queueName(in)
		if err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "http://host/", "http://[::1"} {
		if _, err := queueName(in); codeOf(err) != "InvalidAddress" {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestPage(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	var got []string
	var tok *string
	for range 10 {
		p, next, err := page(names, tok, ptr(int32(2)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
		if next == nil {
			break
		}
		tok = next
	}
	if strings.Join(got, "") != "abcde" {
		t.Fatalf("pages: %v", got)
	}
	if _, _, err := page(names, ptr("garbage!"), nil); codeOf(err) != codeInvalidParameterValue {
		t.Fatalf("bad token: %v", err)
	}
	if _, _, err := page(names, nil, ptr(int32(1001))); codeOf(err) != codeInvalidParameterValue {
		t.Fatalf("MaxResults 1001: %v", err)
	}
	if _, _, err := page(names, nil, ptr(int32(0))); codeOf(err) != codeInvalidParameterValue {
		t.Fatalf("MaxResults 0: %v", err)
	}
	if p, next, _ := page(names, nil, nil); len(p) != 5 || next != nil {
		t.Fatalf("no MaxResults: %v %v", p, next)
	}
}
