package sqs

// md5.go computes the digests SQS returns so that clients can check what
// the broker received and hands out (MD5OfMessageBody, MD5OfBody,
// MD5OfMessageAttributes, MD5OfMessageSystemAttributes). The attribute
// digest is AWS's documented algorithm ("Calculating the MD5 message
// digest for message attributes", SQS Developer Guide): attributes sorted
// by name (byte order), and for each, concatenated:
//
//	uint32 BE length of the name, the name (UTF-8)
//	uint32 BE length of the data type, the data type (UTF-8)
//	one byte transport type: 1 for String and Number (StringValue),
//	                         2 for Binary (BinaryValue)
//	uint32 BE length of the value, the value (UTF-8 string or raw bytes)
//
// then the MD5 of the whole, in lower-case hex. The Java, .NET, Ruby and
// PHP SDKs verify it; aws-sdk-go-v2 only verifies the body's.

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
)

// md5Hex is the lower-case hex MD5 of s.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

const (
	transportString = 1
	transportBinary = 2
)

// md5OfAttributes digests message (or message system) attributes; "" when
// there are none (SQS then omits the member).
func md5OfAttributes(attrs map[string]MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	size := 0
	for name, a := range attrs {
		names = append(names, name)
		size += 13 + len(name) + len(deref(a.DataType)) + len(deref(a.StringValue)) + len(a.BinaryValue)
	}
	slices.Sort(names) // byte-wise, as AWS sorts
	buf := make([]byte, 0, size)
	for _, name := range names {
		a := attrs[name]
		buf = appendLenPrefixed(buf, name)
		dt := deref(a.DataType)
		buf = appendLenPrefixed(buf, dt)
		if isBinaryType(dt) {
			buf = append(buf, transportBinary)
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(a.BinaryValue)))
			buf = append(buf, a.BinaryValue...)
		} else {
			buf = append(buf, transportString)
			buf = appendLenPrefixed(buf, deref(a.StringValue))
		}
	}
	sum := md5.Sum(buf)
	return hex.EncodeToString(sum[:])
}

func appendLenPrefixed(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

// isBinaryType reports whether a message attribute data type is Binary
// (with or without a custom suffix, "Binary.png").
func isBinaryType(dt string) bool {
	return dt == "Binary" || strings.HasPrefix(dt, "Binary.")
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
