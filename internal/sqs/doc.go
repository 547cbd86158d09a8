// Package sqs serves the Amazon SQS API over HTTP, in both of its wire
// forms, on top of the queue engine (internal/queue):
//
//   - AWS JSON 1.0 (current AWS SDKs, boto3 >= 1.34.90, AWS CLI >= 2.15.41):
//     POST with X-Amz-Target: AmazonSQS.<Action>, JSON in and out, errors
//     as {"__type": …} plus the x-amzn-query-error header.
//   - AWS Query (older SDKs, boto3 1.26 and AWS CLI 2.9 in Debian 12):
//     form-encoded POST (or GET) with Action=…, XML responses, errors as
//     an ErrorResponse document.
//
// Requests are accepted at / and at a queue URL's path (QueueUrl is then
// taken from the path when the parameter is absent). Signatures (SigV4 in
// the Authorization header or in query parameters) are not checked yet;
// their parameters are ignored.
//
// Layout: server.go (listener, routing, dispatch), wire_json.go and
// wire_query.go (the two wire forms), errors.go (the error catalogue),
// validate.go (request rules), md5.go (digests), url.go (queue URLs,
// pagination), and one file per action family: queues.go, tags.go,
// send.go, receive.go, ack.go, redrive.go. zz_model.go is generated from
// AWS's API models by gen_model.go (go generate, see its header): the
// request and response structures with their JSON and Query names, the
// error catalogue, the attribute-name enums.
//
// Not served: AddPermission and RemovePermission (UnsupportedOperation);
// KMS encryption attributes are stored and reported by the engine but
// nothing is encrypted. docs/compat.md lists the details.
package sqs

//go:generate go run gen_model.go -ref $SQS_MODEL_DIR
