package sqs

// wire_json.go is the AWS JSON 1.0 protocol: POST / with
// X-Amz-Target: AmazonSQS.<Action>, a JSON object in and out, member names
// as the JSON model spells them (the generated structures' json tags).
//
// Go's encoding/json replaces invalid UTF-8 and unpaired UTF-16 surrogate
// escapes with U+FFFD without an error; SQS must refuse such text instead of
// storing something other than what was sent (the client's MD5 check would
// fail). checkJSONText therefore runs first: a document that is not UTF-8 is
// not JSON (RFC 8259) and fails as a SerializationException; an unpaired
// surrogate escape (\ud800) is a character SQS forbids in message contents.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// decodeJSON fills dst from a JSON request body.
func decodeJSON(body []byte, dst any, sendAction bool) error {
	if err := checkJSONText(body, sendAction); err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil // SDKs always send at least {}; be lenient with nothing
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return jsonDecodeError(err)
	}
	// Exactly one value: trailing garbage is malformed too.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(codeSerialization, "Unexpected content after the JSON document.")
	}
	return nil
}

func jsonDecodeError(err error) *apiError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the request"
		}
		return errorf(codeSerialization, "Cannot deserialize a JSON %s into %s.", te.Value, field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errorf(codeSerialization, "Malformed JSON at offset %d: %v.", se.Offset, err)
	}
	return errorf(codeSerialization, "Malformed JSON request: %v.", err)
}

// checkJSONText refuses invalid UTF-8 and unpaired surrogate escapes.
func checkJSONText(b []byte, sendAction bool) error {
	if !utf8.Valid(b) {
		return errorf(codeSerialization, "The request body is not valid UTF-8.")
	}
	if hasUnpairedSurrogate(b) {
		if sendAction {
			return errorf("InvalidMessageContents", "Invalid character: an unpaired UTF-16 surrogate escape was found in the request. The set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.")
		}
		return invalidParam("An unpaired UTF-16 surrogate escape was found in the request.")
	}
	return nil
}

// hasUnpairedSurrogate scans JSON text for a \uD800-\uDBFF escape not
// followed by a \uDC00-\uDFFF escape, or a lone low surrogate. It tracks
// string boundaries and backslash escapes; malformed text is left to the
// decoder.
func hasUnpairedSurrogate(b []byte) bool {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(b) {
				return false
			}
			if b[i+1] != 'u' {
				i++ // skip the escaped character
				continue
			}
			u, ok := hex4(b, i+2)
			if !ok {
				return false
			}
			switch {
			case u >= 0xD800 && u <= 0xDBFF:
				if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo, ok := hex4(b, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 11 // both escapes
						continue
					}
				}
				return true
			case u >= 0xDC00 && u <= 0xDFFF:
				return true
			}
			i += 5
		}
	}
	return false
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// jsonResponse renders a successful JSON response ({} for no output).
func jsonResponse(out any) ([]byte, error) {
	if out == nil {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// jsonError renders {"__type": …, "message": …}.
func jsonError(e wireError) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message,omitempty"`
	}{e.jsonType, e.message})
	return b
}
