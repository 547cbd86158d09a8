package sqs

// receive.go: ReceiveMessage.
//
// MaxNumberOfMessages 1-10 (default 1), VisibilityTimeout 0-43200 (default
// the queue's), WaitTimeSeconds 0-20 (default the queue's
// ReceiveMessageWaitTimeSeconds; the engine wakes a long poll within
// milliseconds of a send), ReceiveRequestAttemptId (FIFO; up to 128
// alphanumeric or punctuation characters).
//
// System attributes are returned when asked for by AttributeNames (the
// legacy parameter) or MessageSystemAttributeNames, each a name or "All":
// SenderId, SentTimestamp, ApproximateReceiveCount,
// ApproximateFirstReceiveTimestamp, SequenceNumber, MessageDeduplicationId,
// MessageGroupId, AWSTraceHeader, DeadLetterQueueSourceArn. Unknown names
// are ignored. Message attributes are returned when asked for by
// MessageAttributeNames: "All" or ".*" for all, "prefix.*" for those whose
// name starts with "prefix.", or exact names. MD5OfMessageAttributes covers
// the attributes returned (that is what clients can check).

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/internal/queue"
)

func init() {
	register("ReceiveMessage", op((*Server).receiveMessage))
}

const maxAttemptIDLen = 128

func (s *Server) receiveMessage(c *call, in *ReceiveMessageRequest) (*ReceiveMessageResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkRange("MaxNumberOfMessages", in.MaxNumberOfMessages, 1, maxReceiveMessages, "Must be between 1 and 10, if provided."); err != nil {
		return nil, err
	}
	if err := checkRange("VisibilityTimeout", in.VisibilityTimeout, 0, maxVisibilityTimeout, "Must be >= 0 and <= 43200, if provided."); err != nil {
		return nil, err
	}
	if err := checkRange("WaitTimeSeconds", in.WaitTimeSeconds, 0, maxWaitTimeSeconds, "Must be >= 0 and <= 20, if provided."); err != nil {
		return nil, err
	}
	rin := queue.ReceiveInput{Max: 1}
	if in.MaxNumberOfMessages != nil {
		rin.Max = int(*in.MaxNumberOfMessages)
	}
	if in.VisibilityTimeout != nil {
		v := int(*in.VisibilityTimeout)
		rin.VisibilityTimeout = &v
	}
	if in.WaitTimeSeconds != nil {
		d := time.Duration(*in.WaitTimeSeconds) * time.Second
		rin.WaitTime = &d
	}
	if in.ReceiveRequestAttemptId != nil {
		id := *in.ReceiveRequestAttemptId
		if !validDedupID(id) {
			return nil, invalidValue("ReceiveRequestAttemptId", id, "ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
		}
		rin.AttemptID = id
	}
	msgs, err := q.Receive(c.ctx, rin)
	if err != nil {
		if c.ctx.Err() != nil && !s.closed.Load() {
			// The client gave up on its long poll: an empty answer (it
			// is not listening anyway).
			return &ReceiveMessageResult{}, nil
		}
		if errors.Is(err, context.Canceled) && s.closed.Load() {
			return nil, errorf(codeServiceUnavailable, "The service is shutting down.")
		}
		return nil, err
	}
	sel := newSystemSelector(in.AttributeNames, in.MessageSystemAttributeNames)
	out := &ReceiveMessageResult{Messages: make([]Message, 0, len(msgs))}
	for i := range msgs {
		out.Messages = append(out.Messages, s.wireMessage(&msgs[i], sel, in.MessageAttributeNames))
	}
	return out, nil
}

// validDedupID: 1-128 characters, alphanumeric or ASCII punctuation (the
// rule of MessageDeduplicationId, MessageGroupId, ReceiveRequestAttemptId).
func validDedupID(s string) bool {
	if s == "" || len(s) > maxAttemptIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// systemSelector says which system attributes were asked for.
type systemSelector struct {
	all   bool
	names map[string]bool
}

func newSystemSelector(lists ...[]string) systemSelector {
	var sel systemSelector
	for _, l := range lists {
		for _, n := range l {
			if n == "All" {
				sel.all = true
			}
			if messageSystemAttributeNames[n] {
				if sel.names == nil {
					sel.names = map[string]bool{}
				}
				sel.names[n] = true
			}
		}
	}
	return sel
}

func (sel systemSelector) want(name string) bool { return sel.all || sel.names[name] }

// wireMessage converts an engine message for the response.
func (s *Server) wireMessage(m *queue.Message, sel systemSelector, attrNames []string) Message {
	out := Message{
		MessageId:     ptr(m.MessageID),
		ReceiptHandle: ptr(m.ReceiptHandle),
		MD5OfBody:     ptr(md5Hex(m.Body)),
		Body:          ptr(m.Body),
	}
	if sel.all || len(sel.names) > 0 {
		attrs := map[string]string{}
		add := func(name, v string) {
			if v != "" && sel.want(name) {
				attrs[name] = v
			}
		}
		sender := m.SenderID
		if sender == "" {
			sender = s.account
		}
		add("SenderId", sender)
		add("SentTimestamp", strconv.FormatInt(m.SentTimestamp, 10))
		add("ApproximateReceiveCount", strconv.Itoa(m.ReceiveCount))
		if m.FirstReceiveTimestamp > 0 {
			add("ApproximateFirstReceiveTimestamp", strconv.FormatInt(m.FirstReceiveTimestamp, 10))
		}
		add("SequenceNumber", m.SequenceNumber)
		add("MessageDeduplicationId", m.DedupID)
		add("MessageGroupId", m.GroupID)
		for name, v := range m.SystemAttributes { // AWSTraceHeader, DeadLetterQueueSourceArn
			if v.StringValue != nil {
				add(name, *v.StringValue)
			}
		}
		if len(attrs) > 0 {
			out.Attributes = attrs
		}
	}
	if len(attrNames) > 0 && len(m.Attributes) > 0 {
		sel := map[string]MessageAttributeValue{}
		for name, v := range m.Attributes {
			if wantAttribute(name, attrNames) {
				sel[name] = MessageAttributeValue{DataType: ptr(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue}
			}
		}
		if len(sel) > 0 {
			out.MessageAttributes = sel
			out.MD5OfMessageAttributes = ptr(md5OfAttributes(sel))
		}
	}
	return out
}

// wantAttribute matches a message attribute name against
// MessageAttributeNames: All, .*, prefix.* or the exact name.
func wantAttribute(name string, patterns []string) bool {
	for _, p := range patterns {
		switch {
		case p == "All" || p == ".*":
			return true
		case strings.HasSuffix(p, ".*"):
			if strings.HasPrefix(name, p[:len(p)-1]) {
				return true
			}
		case p == name:
			return true
		}
	}
	return false
}
