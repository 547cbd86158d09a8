package sqs

import (
	"testing"
)

func strAttr(dt, v string) MessageAttributeValue {
	return MessageAttributeValue{DataType: &dt, StringValue: &v}
}

func binAttr(dt string, v []byte) MessageAttributeValue {
	return MessageAttributeValue{DataType: &dt, BinaryValue: v}
}

// TestMD5OfAttributesVectors checks the attribute digest against known
// values: digests that Amazon SQS itself returned (recorded by other
// projects' conformance suites against AWS), the AWS SDK samples, and
// digests published with other implementations of the algorithm.
func TestMD5OfAttributesVectors(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]MessageAttributeValue
		want  string
	}{
		// Returned by Amazon SQS.
		{"aws: one string", map[string]MessageAttributeValue{"k": strAttr("String", "x")}, "a45daa70926828a2f0a1db3418e6feb4"},
		{"aws: Foo", map[string]MessageAttributeValue{"Foo": strAttr("String", "Bar")}, "ae7155c6026991b6d54b11589678bf9c"},
		{"aws: MyAttribute", map[string]MessageAttributeValue{"MyAttribute": strAttr("String", "foobar")}, "adb59cd4678ea5a855436b949cd07ab6"},
		{"aws: Hello", map[string]MessageAttributeValue{"Hello": strAttr("String", "There")}, "a311262e065454b75da111d535b8dacd"},
		{"aws: two, sorted", map[string]MessageAttributeValue{
			"Hello":   strAttr("String", "There"),
			"General": strAttr("String", "Kenobi"),
		}, "fca026605781cb4126a1e9044df24232"},
		{"aws: dotted name", map[string]MessageAttributeValue{
			"Hello":   strAttr("String", "There"),
			"Help.Me": strAttr("String", "Me"),
		}, "83fee93c1bcd8b9a5a923ffacdc636c7"},
		{"aws: three", map[string]MessageAttributeValue{
			"General": strAttr("String", "Kenobi"),
			"Hello":   strAttr("String", "There"),
			"Help.Me": strAttr("String", "Me"),
		}, "4c360f3fdafd970e05fae2f149d997f5"},
		{"aws: binary", map[string]MessageAttributeValue{
			"attr1": binAttr("Binary", []byte("traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01")),
		}, "8cbe4db156db8a94db8b801b7addb984"},
		// AWS SDK samples.
		{"sdk: strings", map[string]MessageAttributeValue{
			"test_attribute_name_2": strAttr("String", "test_attribute_value_2"),
			"test_attribute_name_1": strAttr("String", "test_attribute_value_1"),
		}, "d53f3b558fe951154770f25cb63dbba9"},
		{"sdk: binary", map[string]MessageAttributeValue{
			"test_attribute_name": binAttr("Binary", []byte("test_attribute_value")),
		}, "23f6bd27ea87aab7dfeadcc9aebee495"},
		// Published with other implementations.
		{"SellerName", map[string]MessageAttributeValue{"SellerName": strAttr("String", "Example Store")}, "cd28f3b68aeee4b2eac9c66f2f694b58"},
		{"number and string", map[string]MessageAttributeValue{
			"ordinal":  strAttr("Number", "1"),
			"category": strAttr("String", "test"),
		}, "d21ae90c49061e927f57df5f5d72be1f"},
	}
	for _, tt := range tests {
		if got := md5OfAttributes(tt.attrs); got != tt.want {
			t.Errorf("%s: md5OfAttributes = %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := md5OfAttributes(nil); got != "" {
		t.Errorf("no attributes: %q, want empty", got)
	}
}

func TestMD5Body(t *testing.T) {
	// RFC 1321 test suite values.
	for in, want := range map[string]string{
		"":    "d41d8cd98f00b204e9800998ecf8427e",
		"a":   "0cc175b9c0f1b6a831c399e269772661",
		"abc": "900150983cd24fb0d6963f7d28e17f72",
	} {
		if got := md5Hex(in); got != want {
			t.Errorf("md5Hex(%q) = %s, want %s", in, got, want)
		}
	}
}

// A custom binary type ("Binary.png") uses the binary transport byte, a
// custom string type the string one: the digest of the documented byte
// layout, spelled out.
func TestMD5CustomTypes(t *testing.T) {
	layout := func(name, dt string, transport byte, v string) string {
		var b []byte
		b = appendLenPrefixed(b, name)
		b = appendLenPrefixed(b, dt)
		b = append(b, transport)
		b = appendLenPrefixed(b, v)
		return md5Hex(string(b))
	}
	if got, want := md5OfAttributes(map[string]MessageAttributeValue{"img": binAttr("Binary.png", []byte{0x89, 'P'})}), layout("img", "Binary.png", 2, "\x89P"); got != want {
		t.Errorf("Binary.png: %s, want %s", got, want)
	}
	if got, want := md5OfAttributes(map[string]MessageAttributeValue{"n": strAttr("Number.int", "42")}), layout("n", "Number.int", 1, "42"); got != want {
		t.Errorf("Number.int: %s, want %s", got, want)
	}
}
