package sqs

// errors.go is the SQS error catalogue and its two wire forms. Handlers and
// the engine speak in codes (the JSON model's shape names, e.g.
// "QueueDoesNotExist", or AWS's common codes, e.g. "InvalidParameterValue");
// only writeError turns a code into what a client sees:
//
//   - Query: HTTP status + <ErrorResponse><Error><Type>Sender</Type>
//     <Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>…
//     </Message><Detail/></Error><RequestId>…</RequestId></ErrorResponse>
//   - JSON: HTTP status + {"__type":"com.amazonaws.sqs#QueueDoesNotExist",
//     "message":"…"} + header x-amzn-query-error: <legacy code>;Sender
//     (the awsQueryCompatible trait: SDKs report the legacy code).
//
// Modelled errors come from zz_model.go (generated from AWS's models).
// Common errors are not in the models; their JSON types are the ones AWS
// answers with (com.amazon.coral.service#InvalidParameterValueException for
// the Query code InvalidParameterValue, …), as recorded against AWS by
// other projects' conformance snapshots.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mq/sluice/internal/queue"
)

// Errors returned by Server.
var (
	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("sqs: server closed")
)

// errorDef is one catalogue entry.
type errorDef struct {
	queryCode string // Query <Code> and the x-amzn-query-error code
	status    int    // HTTP status
	jsonType  string // JSON __type; "" = com.amazonaws.sqs#<name>
	receiver  bool   // a server fault (Type Receiver)
	noHeader  bool   // JSON: no x-amzn-query-error header (errors raised before SQS's own layer)
}

// Common error codes (AWS's "common errors" plus the JSON protocol's own).
const (
	codeInvalidParameterValue = "InvalidParameterValue"
	codeMissingParameter      = "MissingParameter"
	codeInvalidAction         = "InvalidAction"
	codeMissingAction         = "MissingAction"
	codeMalformedQueryString  = "MalformedQueryString"
	codeSerialization         = "SerializationException"
	codeInternalError         = "InternalError"
	codeServiceUnavailable    = "ServiceUnavailable"
	codeRequestTooLarge       = "RequestEntityTooLarge"
	codeQueueDoesNotExist     = "QueueDoesNotExist"
)

var commonErrors = map[string]errorDef{
	codeInvalidParameterValue: {queryCode: "InvalidParameterValue", status: 400, jsonType: "com.amazon.coral.service#InvalidParameterValueException"},
	codeMissingParameter:      {queryCode: "MissingParameter", status: 400, jsonType: "com.amazon.coral.service#MissingRequiredParameterException"},
	codeInvalidAction:         {queryCode: "InvalidAction", status: 400, jsonType: "com.amazon.coral.service#UnknownOperationException", noHeader: true},
	codeMissingAction:         {queryCode: "MissingAction", status: 400, jsonType: "com.amazon.coral.service#UnknownOperationException", noHeader: true},
	// AWS documents MalformedQueryString with HTTP 404.
	codeMalformedQueryString: {queryCode: "MalformedQueryString", status: 404, jsonType: "com.amazon.coral.service#SerializationException"},
	codeSerialization:        {queryCode: "MalformedQueryString", status: 400, jsonType: "com.amazon.coral.service#SerializationException", noHeader: true},
	codeInternalError:        {queryCode: "InternalError", status: 500, jsonType: "com.amazon.coral.service#InternalFailure", receiver: true},
	codeServiceUnavailable:   {queryCode: "ServiceUnavailable", status: 503, jsonType: "com.amazon.coral.service#ServiceUnavailableException", receiver: true},
	// A request body over Config.MaxRequestBytes; not an AWS code (AWS's
	// front end answers 413 too).
	codeRequestTooLarge: {queryCode: "RequestEntityTooLarge", status: 413, jsonType: "com.amazon.coral.service#RequestEntityTooLargeException"},
	// Legacy codes an engine may use, answered as AWS does today.
	"MessageTooLong": {queryCode: "InvalidParameterValue", status: 400, jsonType: "com.amazon.coral.service#InvalidParameterValueException"},
	"AccessDenied":   {queryCode: "AccessDenied", status: 403, jsonType: "com.amazon.coral.service#AccessDeniedException"},
}

// byQueryCode maps legacy Query codes of modelled errors back to their
// shape names, so that an engine error carrying either form is found.
var byQueryCode = func() map[string]string {
	m := make(map[string]string, len(modelErrors))
	for name, d := range modelErrors {
		m[d.queryCode] = name
	}
	return m
}()

// lookupError resolves a code to its catalogue entry and canonical name.
// Unknown codes become client errors under their own name (HTTP 400), so
// that a new engine code still reaches the client intact.
func lookupError(code string) (string, errorDef) {
	if d, ok := modelErrors[code]; ok {
		return code, d
	}
	if d, ok := commonErrors[code]; ok {
		return code, d
	}
	if name, ok := byQueryCode[code]; ok {
		return name, modelErrors[name]
	}
	return code, errorDef{queryCode: code, status: 400, jsonType: "com.amazon.coral.service#" + code}
}

// apiError is an error in SQS terms.
type apiError struct {
	code string
	msg  string
}

func (e *apiError) Error() string { return "sqs: " + e.code + ": " + e.msg }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *apiError {
	return errorf(codeInvalidParameterValue, format, args...)
}

// invalidValue is AWS's message for a parameter out of its range.
func invalidValue(param string, value any, reason string) *apiError {
	return invalidParam("Value %v for parameter %s is invalid. Reason: %s", value, param, reason)
}

func missingParam(name string) *apiError {
	return errorf(codeMissingParameter, "The request must contain the parameter %s.", name)
}

// toAPIError translates any error from a handler or the engine. Engine
// errors carry their SQS code; anything else is a server fault.
func toAPIError(err error) (*apiError, bool) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae, false
	}
	var qe *queue.Error
	if errors.As(err, &qe) {
		return &apiError{code: qe.Code, msg: qe.Message}, false
	}
	if errors.Is(err, queue.ErrClosed) {
		return errorf(codeServiceUnavailable, "The service is shutting down."), false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The client went away (or the server is closing): not a fault.
		return errorf(codeServiceUnavailable, "The request was cancelled before it completed."), false
	}
	return errorf(codeInternalError, "We encountered an internal error. Please try again."), true
}

// wireError is an error resolved for one protocol.
type wireError struct {
	status    int
	name      string // canonical catalogue name
	queryCode string
	jsonType  string
	fault     string // Sender | Receiver
	header    bool
	message   string
}

func resolve(e *apiError, jsonProtocol bool) wireError {
	name, d := lookupError(e.code)
	w := wireError{status: d.status, name: name, queryCode: d.queryCode, jsonType: d.jsonType, fault: "Sender", header: !d.noHeader, message: e.msg}
	if d.receiver {
		w.fault = "Receiver"
	}
	if w.jsonType == "" {
		w.jsonType = "com.amazonaws.sqs#" + name
	}
	// AWS words this one differently per protocol.
	if name == codeQueueDoesNotExist && !jsonProtocol && strings.HasPrefix(w.message, "The specified queue does not exist") {
		w.message = "The specified queue does not exist for this wsdl version."
	}
	return w
}

// batchError is a per-entry failure of a batch call (BatchResultErrorEntry).
func batchError(id string, err error) BatchResultErrorEntry {
	ae, _ := toAPIError(err)
	_, d := lookupError(ae.code)
	sender := !d.receiver
	code := d.queryCode
	return BatchResultErrorEntry{Id: &id, Code: &code, Message: &ae.msg, SenderFault: &sender}
}
