package sqs

// validate.go holds the request checks that are about the API's shape
// rather than a queue's state: characters allowed in messages, message
// attributes, batch entry ids and the batch limits, numeric ranges of
// request parameters. Messages are AWS's where known. Checks that depend on
// a queue (its MaximumMessageSize, FIFO rules, its attributes' values) are
// the engine's (internal/queue), so that the CLI and admin API share them.

import (
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/internal/queue"
)

// SQS limits.
const (
	maxBatchEntries        = 10
	maxBatchBytes          = 1 << 20 // 1 MiB of bodies and attributes per batch
	maxMessageAttributes   = 10
	maxAttributeNameLen    = 256
	maxDataTypeLen         = 256
	maxBatchIDLen          = 80
	maxVisibilityTimeout   = 43200 // 12 hours
	maxWaitTimeSeconds     = 20
	maxDelaySeconds        = 900
	maxReceiveMessages     = 10
	maxListQueuesResults   = 1000
	maxMoveTasksPerSecond  = 500
	maxListMoveTaskResults = 10
)

// isXMLChar reports whether r is allowed in SQS messages: #x9 | #xA | #xD
// | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// validXMLChars reports whether s is valid UTF-8 made only of allowed
// characters. ASCII is checked without decoding.
func validXMLChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != 0x9 && c != 0xA && c != 0xD {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if !isXMLChar(r) {
			return false
		}
		i += size
	}
	return true
}

// firstBadChar describes the first forbidden character of s for messages.
func firstBadChar(s string) string {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Sprintf("invalid UTF-8 byte 0x%02X", s[i])
		}
		if !isXMLChar(r) {
			return fmt.Sprintf("'#x%X'", r)
		}
		i += size
	}
	return "none"
}

const allowedChars = "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"

// checkBody validates a message body (its size is the queue's business).
func checkBody(body *string) error {
	if body == nil || *body == "" {
		return missingParam("MessageBody")
	}
	if !validXMLChars(*body) {
		return errorf("InvalidMessageContents", "Invalid binary character %s was found in the message body, the set of allowed characters is %s", firstBadChar(*body), allowedChars)
	}
	return nil
}

// checkAttributes validates message attributes and converts them for the
// engine; it returns their size (names, types and values) for the batch
// limit.
func checkAttributes(attrs map[string]MessageAttributeValue, system bool) (map[string]queue.MessageAttributeValue, int, error) {
	if len(attrs) == 0 {
		return nil, 0, nil
	}
	kind := "Message (user)"
	if system {
		kind = "Message system"
	}
	if !system && len(attrs) > maxMessageAttributes {
		return nil, 0, invalidParam("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(attrs), maxMessageAttributes)
	}
	out := make(map[string]queue.MessageAttributeValue, len(attrs))
	size := 0
	for name, a := range attrs {
		if system {
			if name != "AWSTraceHeader" {
				return nil, 0, invalidParam("Message system attribute name '%s' is invalid.", name)
			}
		} else if err := checkAttributeName(name); err != nil {
			return nil, 0, err
		}
		dt := deref(a.DataType)
		if dt == "" {
			return nil, 0, invalidParam("%s attribute '%s' must contain a non-empty attribute type.", kind, name)
		}
		if err := checkDataType(name, dt, kind); err != nil {
			return nil, 0, err
		}
		if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
			return nil, 0, invalidParam("%s attribute '%s': StringListValues and BinaryListValues are not implemented.", kind, name)
		}
		v := queue.MessageAttributeValue{DataType: dt}
		base := baseType(dt)
		if system && base != "String" {
			return nil, 0, invalidParam("%s attribute '%s' must be of type 'String'.", kind, name)
		}
		switch base {
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return nil, 0, invalidParam("%s attribute '%s' must contain a non-empty value of type 'Binary'.", kind, name)
			}
			if a.StringValue != nil {
				return nil, 0, invalidParam("%s attribute '%s' with type 'Binary' must use field 'Binary'.", kind, name)
			}
			v.BinaryValue = a.BinaryValue
			size += len(a.BinaryValue)
		default: // String, Number
			if a.StringValue == nil || *a.StringValue == "" {
				return nil, 0, invalidParam("%s attribute '%s' must contain a non-empty value of type '%s'.", kind, name, base)
			}
			if len(a.BinaryValue) > 0 {
				return nil, 0, invalidParam("%s attribute '%s' with type '%s' must use field 'String'.", kind, name, base)
			}
			s := *a.StringValue
			if !validXMLChars(s) {
				return nil, 0, invalidParam("%s attribute '%s' contains the invalid character %s; the set of allowed characters is %s", kind, name, firstBadChar(s), allowedChars)
			}
			if base == "Number" && !validNumber(s) {
				return nil, 0, invalidParam("Can't cast the value of message (user) attribute '%s' to a number.", name)
			}
			v.StringValue = &s
			size += len(s)
		}
		size += len(name) + len(dt)
		out[name] = v
	}
	return out, size, nil
}

// checkAttributeName applies AWS's rules for message attribute names: up
// to 256 of A-Z a-z 0-9 _ - ., no leading or trailing period, no two
// periods in a row, no AWS. or Amazon. prefix (any case).
func checkAttributeName(name string) error {
	bad := func(reason string) error {
		return invalidParam("Message (user) attribute name '%s' is invalid. %s", name, reason)
	}
	if name == "" {
		return invalidParam("Message (user) attribute name must not be empty.")
	}
	if len(name) > maxAttributeNameLen {
		return bad(fmt.Sprintf("The name must be at most %d characters long.", maxAttributeNameLen))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return bad("The name can only contain alphanumeric characters, hyphens (-), underscores (_) and periods (.).")
		}
	}
	if name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return bad("The name must not start or end with a period and must not contain successive periods.")
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return bad("The name is reserved for use by Amazon Web Services.")
	}
	return nil
}

// checkDataType: String, Number or Binary, optionally ".custom".
func checkDataType(name, dt, kind string) error {
	if len(dt) > maxDataTypeLen {
		return invalidParam("%s attribute '%s' has a data type longer than %d characters.", kind, name, maxDataTypeLen)
	}
	switch baseType(dt) {
	case "String", "Number", "Binary":
	default:
		return invalidParam("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
	}
	if !validXMLChars(dt) {
		return invalidParam("%s attribute '%s' has a data type with invalid characters.", kind, name)
	}
	return nil
}

func baseType(dt string) string {
	base, _, _ := strings.Cut(dt, ".")
	return base
}

var numberLimit, _ = new(big.Float).SetPrec(200).SetString("1e126")

// validNumber accepts what SQS's Number type does: a decimal number (with
// optional sign, fraction and exponent) with at most 38 significant digits,
// between -10^126 and 10^126 (AWS's documented range).
func validNumber(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 300 {
		return false
	}
	f, ok := new(big.Float).SetPrec(200).SetString(s)
	if !ok || f.IsInf() {
		return false
	}
	mant := strings.TrimLeft(strings.TrimLeft(s, "+-"), "0")
	if i := strings.IndexAny(mant, "eE"); i >= 0 {
		mant = mant[:i]
	}
	digits := strings.Trim(strings.Replace(mant, ".", "", 1), "0")
	if len(digits) > 38 {
		return false
	}
	return new(big.Float).Abs(f).Cmp(numberLimit) <= 0
}

// checkBatchIDs applies the batch rules that fail a whole request:
// 1..10 entries, ids of 1..80 [A-Za-z0-9_-], ids distinct.
func checkBatchIDs(n int, id func(i int) string, entryName string) error {
	if n == 0 {
		return errorf("EmptyBatchRequest", "There should be at least one %s in the request.", entryName)
	}
	if n > maxBatchEntries {
		return errorf("TooManyEntriesInBatchRequest", "Maximum number of entries per request are %d. You have sent %d.", maxBatchEntries, n)
	}
	seen := make(map[string]bool, n)
	for i := range n {
		s := id(i)
		if !validBatchID(s) {
			return errorf("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most %d letters long.", maxBatchIDLen)
		}
		if seen[s] {
			return errorf("BatchEntryIdsNotDistinct", "Id %s repeated.", s)
		}
		seen[s] = true
	}
	return nil
}

func validBatchID(s string) bool {
	if s == "" || len(s) > maxBatchIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkRange validates an optional integer parameter.
func checkRange(param string, v *int32, lo, hi int32, reason string) error {
	if v != nil && (*v < lo || *v > hi) {
		return invalidValue(param, *v, reason)
	}
	return nil
}

func itoa(i int) string { return fmt.Sprint(i) }
