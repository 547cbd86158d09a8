package sqs

// wire_query.go is the AWS Query protocol: form-encoded parameters in,
// XML out. Requests are decoded into the same generated structures as JSON
// requests, guided by their `query` tags (zz_model.go): a structure member
// is a dotted prefix (QueueUrl, Attribute.1.Name), a list is numbered
// elements (AttributeName.1, AttributeName.2 …, all lists of SQS are
// "flattened"), a map is numbered entries with key and value elements
// (MessageAttribute.1.Name, MessageAttribute.1.Value.DataType …).
// Responses are written from the generated output structures with the same
// tags: <SendMessageResponse xmlns="…"><SendMessageResult>…
// </SendMessageResult><ResponseMetadata><RequestId>…</RequestId>
// </ResponseMetadata></SendMessageResponse>.

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxQueryDepth bounds the dotted depth of a parameter name; SQS's deepest
// is SendMessageBatchRequestEntry.N.MessageAttribute.N.Value.
// BinaryListValue.N (7). Deeper names are ignored.
const maxQueryDepth = 12

// maxQueryIndex bounds list indexes, so that a forged AttributeName.
// 999999999 cannot make anything large; no SQS list comes near it.
const maxQueryIndex = 10000

// qnode is one level of the parameter tree.
type qnode struct {
	val  string
	set  bool
	kids map[string]*qnode
}

func (n *qnode) child(name string) *qnode {
	if n == nil || n.kids == nil {
		return nil
	}
	return n.kids[name]
}

// buildQueryTree turns flat parameters into a tree. For a repeated
// parameter the first value wins.
func buildQueryTree(vals url.Values) *qnode {
	root := &qnode{}
	for key, vs := range vals {
		if len(vs) == 0 || key == "" {
			continue
		}
		parts := strings.Split(key, ".")
		if len(parts) > maxQueryDepth {
			continue
		}
		n := root
		for _, p := range parts {
			if n.kids == nil {
				n.kids = make(map[string]*qnode)
			}
			c := n.kids[p]
			if c == nil {
				c = &qnode{}
				n.kids[p] = c
			}
			n = c
		}
		n.val, n.set = vs[0], true
	}
	return root
}

// fieldInfo is a struct field's Query tag, parsed once per type.
type fieldInfo struct {
	index         int
	name, alt     string
	key, value    string
	elemIsStruct  bool
	valueIsStruct bool
	ptrToStruct   bool
}

var fieldCache sync.Map // reflect.Type -> []fieldInfo

func fieldsOf(t reflect.Type) []fieldInfo {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]fieldInfo)
	}
	var fs []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("query")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		fi := fieldInfo{index: i, name: parts[0], key: "key", value: "value"}
		for _, o := range parts[1:] {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "key":
				fi.key = v
			case "value":
				fi.value = v
			case "alt":
				fi.alt = v
			}
		}
		switch f.Type.Kind() {
		case reflect.Slice:
			fi.elemIsStruct = f.Type.Elem().Kind() == reflect.Struct
		case reflect.Map:
			fi.valueIsStruct = f.Type.Elem().Kind() == reflect.Struct
		case reflect.Pointer:
			fi.ptrToStruct = f.Type.Elem().Kind() == reflect.Struct
		}
		fs = append(fs, fi)
	}
	fieldCache.Store(t, fs)
	return fs
}

// decodeQuery fills the structure dst points to from the tree.
func decodeQuery(root *qnode, dst any) error {
	return decodeStruct(reflect.ValueOf(dst).Elem(), root, "")
}

func joinName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func decodeStruct(v reflect.Value, n *qnode, prefix string) error {
	for _, fi := range fieldsOf(v.Type()) {
		c := n.child(fi.name)
		name := fi.name
		if c == nil && fi.alt != "" {
			c, name = n.child(fi.alt), fi.alt
		}
		if c == nil {
			continue
		}
		if err := decodeField(v.Field(fi.index), fi, c, joinName(prefix, name)); err != nil {
			return err
		}
	}
	return nil
}

func decodeField(f reflect.Value, fi fieldInfo, c *qnode, path string) error {
	switch f.Kind() {
	case reflect.Pointer:
		if fi.ptrToStruct {
			p := reflect.New(f.Type().Elem())
			if err := decodeStruct(p.Elem(), c, path); err != nil {
				return err
			}
			f.Set(p)
			return nil
		}
		if !c.set {
			return nil
		}
		p := reflect.New(f.Type().Elem())
		if err := decodeScalar(p.Elem(), c.val, path); err != nil {
			return err
		}
		f.Set(p)
	case reflect.Slice:
		if f.Type().Elem().Kind() == reflect.Uint8 { // blob
			if !c.set {
				return nil
			}
			return decodeScalar(f, c.val, path)
		}
		idx := indexes(c)
		s := reflect.MakeSlice(f.Type(), len(idx), len(idx))
		for i, k := range idx {
			el := c.kids[strconv.Itoa(k)]
			elPath := path + "." + strconv.Itoa(k)
			switch {
			case fi.elemIsStruct:
				if err := decodeStruct(s.Index(i), el, elPath); err != nil {
					return err
				}
			default:
				if err := decodeScalar(s.Index(i), el.val, elPath); err != nil {
					return err
				}
			}
		}
		f.Set(s)
	case reflect.Map:
		idx := indexes(c)
		m := reflect.MakeMapWithSize(f.Type(), len(idx))
		for _, k := range idx {
			entry := c.kids[strconv.Itoa(k)]
			entryPath := path + "." + strconv.Itoa(k)
			kn := entry.child(fi.key)
			if kn == nil || !kn.set {
				return missingParam(entryPath + "." + fi.key)
			}
			vn := entry.child(fi.value)
			val := reflect.New(f.Type().Elem()).Elem()
			if fi.valueIsStruct {
				if err := decodeStruct(val, vn, entryPath+"."+fi.value); err != nil {
					return err
				}
			} else {
				if vn == nil || !vn.set {
					return missingParam(entryPath + "." + fi.value)
				}
				val.SetString(vn.val)
			}
			m.SetMapIndex(reflect.ValueOf(kn.val), val)
		}
		f.Set(m)
	}
	return nil
}

// indexes returns the numbered children (1, 2, …) in order; other names
// (such as the empty value botocore sends for an empty list) are ignored.
func indexes(n *qnode) []int {
	var out []int
	for k := range n.kids {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 || i > maxQueryIndex || strconv.Itoa(i) != k {
			continue
		}
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func decodeScalar(v reflect.Value, s, path string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int32, reflect.Int64:
		bits := 32
		if v.Kind() == reflect.Int64 {
			bits = 64
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
		if err != nil {
			return invalidValue(path, s, "Must be an integer.")
		}
		v.SetInt(n)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return invalidValue(path, s, "Must be true or false.")
		}
	case reflect.Slice: // blob: base64
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return invalidValue(path, s, "Must be base64-encoded binary data.")
		}
		v.SetBytes(b)
	}
	return nil
}

// ---------------------------------------------------------------- XML out

// xmlWriter builds a Query response.
type xmlWriter struct{ bytes.Buffer }

func (w *xmlWriter) open(name string)  { w.WriteByte('<'); w.WriteString(name); w.WriteByte('>') }
func (w *xmlWriter) close(name string) { w.WriteString("</"); w.WriteString(name); w.WriteByte('>') }

func (w *xmlWriter) elem(name, text string) {
	w.open(name)
	w.text(text)
	w.close(name)
}

// text escapes character data as SQS does: the XML specials plus quotes,
// and a carriage return as a character reference so that it survives XML
// line-end normalisation in the client's parser. Characters XML 1.0 cannot
// carry (possible only in values stored through other paths; message
// contents are checked on the way in) become U+FFFD rather than breaking
// the document.
func (w *xmlWriter) text(s string) {
	if !validXMLChars(s) {
		s = sanitizeXMLText(s)
	}
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		w.WriteString(s[last:i])
		w.WriteString(esc)
		last = i + 1
	}
	w.WriteString(s[last:])
}

// encodeXMLStruct writes v's tagged, non-empty fields in model order.
func (w *xmlWriter) encodeStruct(v reflect.Value) {
	for _, fi := range fieldsOf(v.Type()) {
		f := v.Field(fi.index)
		switch f.Kind() {
		case reflect.Pointer:
			if f.IsNil() {
				continue
			}
			if fi.ptrToStruct {
				w.open(fi.name)
				w.encodeStruct(f.Elem())
				w.close(fi.name)
				continue
			}
			w.elem(fi.name, scalarText(f.Elem()))
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Uint8 {
				if f.Len() > 0 {
					w.elem(fi.name, base64.StdEncoding.EncodeToString(f.Bytes()))
				}
				continue
			}
			for i := 0; i < f.Len(); i++ {
				el := f.Index(i)
				if fi.elemIsStruct {
					w.open(fi.name)
					w.encodeStruct(el)
					w.close(fi.name)
				} else {
					w.elem(fi.name, scalarText(el))
				}
			}
		case reflect.Map:
			keys := f.MapKeys()
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
			for _, k := range keys {
				w.open(fi.name)
				w.elem(fi.key, k.String())
				val := f.MapIndex(k)
				if fi.valueIsStruct {
					w.open(fi.value)
					w.encodeStruct(val)
					w.close(fi.value)
				} else {
					w.elem(fi.value, val.String())
				}
				w.close(fi.name)
			}
		}
	}
}

func scalarText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	}
	return ""
}

// queryResponse renders a successful Query response.
func queryResponse(action, requestID string, out any) []byte {
	var w xmlWriter
	w.WriteString(`<?xml version="1.0"?>`)
	w.WriteString("<" + action + `Response xmlns="` + xmlNamespace + `">`)
	if wrapper := modelOperations[action]; wrapper != "" && out != nil {
		w.open(wrapper)
		rv := reflect.ValueOf(out)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Struct {
			w.encodeStruct(rv.Elem())
		}
		w.close(wrapper)
	}
	w.WriteString("<ResponseMetadata>")
	w.elem("RequestId", requestID)
	w.WriteString("</ResponseMetadata>")
	w.close(action + "Response")
	return w.Bytes()
}

// queryError renders an ErrorResponse.
func queryError(e wireError, requestID string) []byte {
	var w xmlWriter
	w.WriteString(`<?xml version="1.0"?>`)
	w.WriteString(`<ErrorResponse xmlns="` + xmlNamespace + `"><Error>`)
	w.elem("Type", e.fault)
	w.elem("Code", e.queryCode)
	w.elem("Message", sanitizeXMLText(e.message))
	w.WriteString("<Detail/></Error>")
	w.elem("RequestId", requestID)
	w.WriteString("</ErrorResponse>")
	return w.Bytes()
}

// sanitizeXMLText replaces what cannot appear in XML 1.0 (invalid UTF-8,
// control characters) in error messages that echo client input.
func sanitizeXMLText(s string) string {
	if validXMLChars(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !isXMLChar(r) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
