//go:build ignore

// gen_model.go writes zz_model.go from AWS's published SQS API models
// (botocore's service-2.json for the JSON and the Query protocol), so that
// member names, Query parameter names, XML element names, required members,
// enums and the error catalogue come from AWS's data rather than from
// hand-typed lists:
//
//	SQS_MODEL_DIR=/path/to/reference/sqs go generate ./internal/sqs/
//
// For every operation Sluice serves it emits the input and output
// structures with two tags per member: `json:"…"` (the JSON 1.0 member
// name, e.g. CreateQueue's odd "tags") and `query:"…"` (the Query
// protocol's flattened name, resolved the way botocore serializes and
// parses it: the member's locationName, else its shape's locationName, else
// the member name; a flattened list takes its member's locationName; a map
// names its key and value elements).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// served lists the operations Sluice implements (AddPermission and
// RemovePermission are answered with UnsupportedOperation).
var served = []string{
	"CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
	"CreateQueue", "DeleteMessage", "DeleteMessageBatch", "DeleteQueue",
	"GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues",
	"ListMessageMoveTasks", "ListQueueTags", "ListQueues", "PurgeQueue",
	"ReceiveMessage", "SendMessage", "SendMessageBatch", "SetQueueAttributes",
	"StartMessageMoveTask", "TagQueue", "UntagQueue",
}

// errorTraits supplements the reference models for error shapes whose
// awsQueryError trait (legacy Query code and HTTP status) the reference
// copies lack. The values are those of AWS's current Smithy model for SQS
// (as published with the AWS SDKs, e.g. aws-sdk-go-v2 service/sqs
// schemas); real AWS returns InvalidAttributeName, InvalidAttributeValue,
// InvalidMessageContents and InvalidIdFormat under their own names with
// HTTP 400.
var errorTraits = map[string]struct {
	Code   string
	Status int
}{
	"InvalidAddress":         {"InvalidAddress", 404},
	"InvalidAttributeName":   {"InvalidAttributeName", 400},
	"InvalidAttributeValue":  {"InvalidAttributeValue", 400},
	"InvalidIdFormat":        {"InvalidIdFormat", 400},
	"InvalidMessageContents": {"InvalidMessageContents", 400},
	"InvalidSecurity":        {"InvalidSecurity", 403},
	"KmsAccessDenied":        {"KMS.AccessDeniedException", 400},
	"KmsDisabled":            {"KMS.DisabledException", 400},
	"KmsInvalidKeyUsage":     {"KMS.InvalidKeyUsageException", 400},
	"KmsInvalidState":        {"KMS.InvalidStateException", 400},
	"KmsNotFound":            {"KMS.NotFoundException", 400},
	"KmsOptInRequired":       {"KMS.OptInRequired", 403},
	"KmsThrottled":           {"KMS.ThrottlingException", 400},
	"ReceiptHandleIsInvalid": {"ReceiptHandleIsInvalid", 404},
	// AWS's model says 403; Sluice's backpressure extension answers 400
	// (issue 5, docs/compat.md). The code is what clients' retry logic
	// keys on, and it is AWS's.
	"RequestThrottled": {"RequestThrottled", 400},
}

type ref struct {
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
	Flattened    bool   `json:"flattened"`
}

type shape struct {
	Type         string         `json:"type"`
	Required     []string       `json:"required"`
	Members      orderedMembers `json:"members"`
	Member       *ref           `json:"member"`
	Key, Value   *ref
	Enum         []string `json:"enum"`
	Flattened    bool     `json:"flattened"`
	LocationName string   `json:"locationName"`
	Exception    bool     `json:"exception"`
	Error        *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`
}

type member struct {
	Name string
	Ref  ref
}

// orderedMembers keeps the model's member order (the XML element order).
type orderedMembers []member

func (o *orderedMembers) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var r ref
		if err := dec.Decode(&r); err != nil {
			return err
		}
		*o = append(*o, member{Name: t.(string), Ref: r})
	}
	_, err := dec.Token()
	return err
}

type model struct {
	Metadata   map[string]any `json:"metadata"`
	Operations map[string]struct {
		Input  *ref `json:"input"`
		Output *struct {
			Shape         string `json:"shape"`
			ResultWrapper string `json:"resultWrapper"`
		} `json:"output"`
		Errors []ref `json:"errors"`
	} `json:"operations"`
	Shapes map[string]*shape `json:"shapes"`
}

func load(path string) *model {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return &m
}

type gen struct {
	js, qs  *model
	out     bytes.Buffer
	emitted map[string]bool
	// needMissing: structures that get a missing() method (operation
	// inputs and the entries of their lists).
	needMissing map[string]bool
	queue       []pair
}

// pair is a structure to emit: its JSON-model shape and the Query-model
// shape at the same place (names differ for some scalars, never for
// structures' members).
type pair struct {
	js, qs string
	input  bool
}

func main() {
	dir := flag.String("ref", os.Getenv("SQS_MODEL_DIR"), "directory with service-2.json-protocol.json and service-2.query-protocol.json")
	out := flag.String("o", "zz_model.go", "output file")
	flag.Parse()
	if *dir == "" {
		log.Fatal("gen_model: set -ref or SQS_MODEL_DIR to the directory of the SQS API models")
	}
	g := &gen{
		js:          load(filepath.Join(*dir, "service-2.json-protocol.json")),
		qs:          load(filepath.Join(*dir, "service-2.query-protocol.json")),
		emitted:     map[string]bool{},
		needMissing: map[string]bool{},
	}
	g.run()
	src, err := format.Source(g.out.Bytes())
	if err != nil {
		os.WriteFile(*out+".broken", g.out.Bytes(), 0o644)
		log.Fatalf("gofmt: %v", err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.out, format, args...) }

func (g *gen) run() {
	g.p("// Code generated by gen_model.go from AWS's SQS API models (botocore\n")
	g.p("// service-2.json, JSON and Query protocol, API version %v). DO NOT EDIT.\n\n", g.js.Metadata["apiVersion"])
	g.p("package sqs\n\n")
	g.p("// xmlNamespace is the Query protocol's response namespace.\n")
	g.p("const xmlNamespace = %q\n\n", g.qs.Metadata["xmlNamespace"])
	g.p("// jsonTargetPrefix prefixes the X-Amz-Target header of JSON requests.\n")
	g.p("const jsonTargetPrefix = %q\n\n", fmt.Sprint(g.js.Metadata["targetPrefix"])+".")

	// Operations.
	g.p("// modelOperations lists every operation of the API (served or not), with the\n")
	g.p("// Query protocol's result wrapper element (empty when the operation has no output).\n")
	g.p("var modelOperations = map[string]string{\n")
	ops := make([]string, 0, len(g.js.Operations))
	for name := range g.js.Operations {
		ops = append(ops, name)
	}
	sort.Strings(ops)
	for _, name := range ops {
		wrapper := ""
		if o := g.qs.Operations[name].Output; o != nil {
			wrapper = o.ResultWrapper
		}
		g.p("\t%q: %q,\n", name, wrapper)
	}
	g.p("}\n\n")

	// Errors.
	g.p("// modelErrors are the API's error shapes (by JSON shape name) with their\n")
	g.p("// legacy Query code and HTTP status.\n")
	g.p("var modelErrors = map[string]errorDef{\n")
	var errs []string
	for name, s := range g.js.Shapes {
		if s.Exception {
			errs = append(errs, name)
		}
	}
	sort.Strings(errs)
	for _, name := range errs {
		code, status := name, 400
		if q := g.qs.Shapes[name]; q != nil && q.Error != nil {
			code, status = q.Error.Code, q.Error.HTTPStatusCode
		}
		if t, ok := errorTraits[name]; ok {
			if q := g.qs.Shapes[name]; q == nil || q.Error == nil || name == "RequestThrottled" {
				code, status = t.Code, t.Status
			}
		} else if q := g.qs.Shapes[name]; q == nil || q.Error == nil {
			log.Fatalf("error shape %s has no Query code in the models nor in errorTraits", name)
		}
		g.p("\t%q: {queryCode: %q, status: %d},\n", name, code, status)
	}
	g.p("}\n\n")

	// Enums.
	g.enum("queueAttributeNames", "QueueAttributeName", "the queue attribute names GetQueueAttributes accepts (with \"All\")")
	g.enum("messageSystemAttributeNames", "MessageSystemAttributeName", "the message system attribute names ReceiveMessage accepts (with \"All\")")

	// Structures.
	for _, name := range served {
		jo, qo := g.js.Operations[name], g.qs.Operations[name]
		if jo.Input == nil || qo.Input == nil {
			log.Fatalf("operation %s has no input", name)
		}
		g.queue = append(g.queue, pair{jo.Input.Shape, qo.Input.Shape, true})
		g.needMissing[jo.Input.Shape] = true
	}
	for _, name := range served {
		jo, qo := g.js.Operations[name], g.qs.Operations[name]
		if jo.Output != nil {
			g.queue = append(g.queue, pair{jo.Output.Shape, qo.Output.Shape, false})
		}
	}
	for len(g.queue) > 0 {
		pr := g.queue[0]
		g.queue = g.queue[1:]
		if g.emitted[pr.js] {
			continue
		}
		g.emitted[pr.js] = true
		g.structure(pr)
	}
}

func (g *gen) enum(varName, shapeName, doc string) {
	s := g.js.Shapes[shapeName]
	g.p("// %s are %s.\n", varName, doc)
	g.p("var %s = map[string]bool{\n", varName)
	vals := slices.Clone(s.Enum)
	sort.Strings(vals)
	for _, v := range vals {
		g.p("\t%q: true,\n", v)
	}
	g.p("}\n\n")
}

// goType returns the Go type of a member's shape, queueing structures.
func (g *gen) goType(jsName, qsName string, input bool) string {
	s := g.js.Shapes[jsName]
	q := g.qs.Shapes[qsName]
	switch s.Type {
	case "string":
		return "*string"
	case "integer":
		return "*int32"
	case "long":
		return "*int64"
	case "boolean":
		return "*bool"
	case "blob":
		return "[]byte"
	case "structure":
		g.queue = append(g.queue, pair{jsName, qsName, input})
		return "*" + jsName
	case "list":
		el := g.goType(s.Member.Shape, q.Member.Shape, input)
		return "[]" + strings.TrimPrefix(el, "*")
	case "map":
		if g.js.Shapes[s.Key.Shape].Type != "string" {
			log.Fatalf("map %s: non-string keys", jsName)
		}
		el := g.goType(s.Value.Shape, q.Value.Shape, input)
		return "map[string]" + strings.TrimPrefix(el, "*")
	}
	log.Fatalf("shape %s: unsupported type %s", jsName, s.Type)
	return ""
}

// queryTag resolves a member's Query/XML name the way botocore's query
// serializer and XML parser do.
func (g *gen) queryTag(m member, target *shape) string {
	name := m.Name
	switch {
	case m.Ref.LocationName != "":
		name = m.Ref.LocationName
	case target.LocationName != "":
		name = target.LocationName
	}
	var opts []string
	switch target.Type {
	case "list":
		if !target.Flattened && !m.Ref.Flattened {
			log.Fatalf("member %s: non-flattened lists are not supported", m.Name)
		}
		if target.Member.LocationName != "" {
			name = target.Member.LocationName
		}
	case "map":
		if !target.Flattened && !m.Ref.Flattened {
			log.Fatalf("member %s: non-flattened maps are not supported", m.Name)
		}
		k, v := "key", "value"
		if target.Key.LocationName != "" {
			k = target.Key.LocationName
		}
		if target.Value.LocationName != "" {
			v = target.Value.LocationName
		}
		opts = append(opts, "key="+k, "value="+v)
	}
	if name != m.Name {
		// Accept the member name too: some tools write Tags.N.Key for
		// TagQueue (as the reference list of parameter names does), and
		// botocore sends an empty list as "<MemberName>=".
		opts = append(opts, "alt="+m.Name)
	}
	return strings.Join(append([]string{name}, opts...), ",")
}

func (g *gen) structure(pr pair) {
	s, q := g.js.Shapes[pr.js], g.qs.Shapes[pr.qs]
	if s == nil || q == nil {
		log.Fatalf("structure %s/%s missing", pr.js, pr.qs)
	}
	g.p("// %s is the model's %s structure.\n", pr.js, pr.js)
	g.p("type %s struct {\n", pr.js)
	qmembers := map[string]member{}
	for _, m := range q.Members {
		qmembers[m.Name] = m
	}
	for _, m := range s.Members {
		qm, ok := qmembers[m.Name]
		if !ok {
			log.Fatalf("%s.%s: not in the Query model", pr.js, m.Name)
		}
		typ := g.goType(m.Ref.Shape, qm.Ref.Shape, pr.input)
		tag := g.queryTag(qm, g.qs.Shapes[qm.Ref.Shape])
		field := strings.ToUpper(m.Name[:1]) + m.Name[1:]
		g.p("\t%s %s `json:\"%s,omitempty\" query:\"%s\"`\n", field, typ, m.Name, tag)
	}
	g.p("}\n\n")

	if !g.needMissing[pr.js] {
		return
	}
	// missing(): the first absent required member, by its Query name.
	g.p("func (v *%s) missing() string {\n", pr.js)
	g.p("\tif v == nil { return \"\" }\n")
	for _, m := range s.Members {
		field := strings.ToUpper(m.Name[:1]) + m.Name[1:]
		qname := strings.Split(g.queryTag(qmembers[m.Name], g.qs.Shapes[qmembers[m.Name].Ref.Shape]), ",")[0]
		target := g.js.Shapes[m.Ref.Shape]
		if slices.Contains(s.Required, m.Name) {
			g.p("\tif v.%s == nil { return %q }\n", field, qname)
		}
		// Required members of listed structures (batch entries).
		if target.Type == "list" && g.js.Shapes[target.Member.Shape].Type == "structure" {
			g.needMissing[target.Member.Shape] = true
			g.p("\tfor i := range v.%s {\n", field)
			g.p("\t\tif m := v.%s[i].missing(); m != \"\" { return %q + \".\" + itoa(i+1) + \".\" + m }\n", field, qname)
			g.p("\t}\n")
		}
	}
	g.p("\treturn \"\"\n}\n\n")
}
