package sqs

// send.go: SendMessage and SendMessageBatch.
//
// Checked here (the request's shape): a non-empty body of allowed
// characters (InvalidMessageContents), message attributes (names, types,
// values, at most 10), the AWSTraceHeader system attribute, DelaySeconds
// 0-900; for batches the whole-request rules (1-10 entries, ids, distinct
// ids, 1 MiB in all). Checked by the engine (the queue's rules):
// MaximumMessageSize, FIFO group and deduplication ids, per-message delay
// on FIFO queues, backpressure (RequestThrottled).
//
// In a batch an entry that fails a check fails alone (Failed, SenderFault
// true) and the others are sent; the response lists both. A whole-request
// error sends nothing. The engine answers only after the fsync covering
// the sent messages.

import (
	"github.com/sluice-mq/sluice/internal/queue"
)

func init() {
	register("SendMessage", op((*Server).sendMessage))
	register("SendMessageBatch", op((*Server).sendMessageBatch))
}

// sendEntry is one message to send, as the wire gave it.
type sendEntry struct {
	id           string
	body         *string
	delay        *int32
	attrs        map[string]MessageAttributeValue
	sysAttrs     map[string]MessageSystemAttributeValue
	group, dedup *string
}

// prepare validates e and converts it for the engine.
func (e *sendEntry) prepare() (queue.SendInput, error) {
	if err := checkBody(e.body); err != nil {
		return queue.SendInput{}, err
	}
	if err := checkRange("DelaySeconds", e.delay, 0, maxDelaySeconds, "DelaySeconds must be >= 0 and <= 900."); err != nil {
		return queue.SendInput{}, err
	}
	attrs, _, err := checkAttributes(e.attrs, false)
	if err != nil {
		return queue.SendInput{}, err
	}
	sys, _, err := checkAttributes(sysAsUser(e.sysAttrs), true)
	if err != nil {
		return queue.SendInput{}, err
	}
	in := queue.SendInput{
		ID:               e.id,
		Body:             *e.body,
		Attributes:       attrs,
		SystemAttributes: sys,
		GroupID:          deref(e.group),
		DedupID:          deref(e.dedup),
	}
	if e.delay != nil {
		d := int(*e.delay)
		in.DelaySeconds = &d
	}
	// An empty MessageGroupId / MessageDeduplicationId given explicitly is
	// invalid (AWS: 1 to 128 characters); the engine sees "" as absent.
	if e.group != nil && *e.group == "" {
		return queue.SendInput{}, invalidValue("MessageGroupId", "", "MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
	}
	if e.dedup != nil && *e.dedup == "" {
		return queue.SendInput{}, invalidValue("MessageDeduplicationId", "", "MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
	}
	return in, nil
}

// size is what the entry counts toward the 1 MiB batch limit: the body and
// every attribute's name, type and value.
func (e *sendEntry) size() int {
	n := len(deref(e.body))
	for name, a := range e.attrs {
		n += len(name) + len(deref(a.DataType)) + len(deref(a.StringValue)) + len(a.BinaryValue)
	}
	for name, a := range e.sysAttrs {
		n += len(name) + len(deref(a.DataType)) + len(deref(a.StringValue)) + len(a.BinaryValue)
	}
	return n
}

func sysAsUser(m map[string]MessageSystemAttributeValue) map[string]MessageAttributeValue {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]MessageAttributeValue, len(m))
	for k, v := range m {
		out[k] = MessageAttributeValue(v)
	}
	return out
}

// digests returns MD5OfMessageBody, MD5OfMessageAttributes and
// MD5OfMessageSystemAttributes (nil when there are no attributes).
func (e *sendEntry) digests() (body, attrs, sys *string) {
	body = ptr(md5Hex(*e.body))
	if d := md5OfAttributes(e.attrs); d != "" {
		attrs = &d
	}
	if d := md5OfAttributes(sysAsUser(e.sysAttrs)); d != "" {
		sys = &d
	}
	return body, attrs, sys
}

func (s *Server) sendMessage(c *call, in *SendMessageRequest) (*SendMessageResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	e := sendEntry{body: in.MessageBody, delay: in.DelaySeconds, attrs: in.MessageAttributes,
		sysAttrs: in.MessageSystemAttributes, group: in.MessageGroupId, dedup: in.MessageDeduplicationId}
	msg, err := e.prepare()
	if err != nil {
		return nil, err
	}
	res, err := q.Send(c.ctx, []queue.SendInput{msg})
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, errorf(codeInternalError, "The queue returned %d results for one message.", len(res))
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	out := &SendMessageResult{MessageId: ptr(res[0].MessageID)}
	out.MD5OfMessageBody, out.MD5OfMessageAttributes, out.MD5OfMessageSystemAttributes = e.digests()
	if res[0].SequenceNumber != "" {
		out.SequenceNumber = ptr(res[0].SequenceNumber)
	}
	return out, nil
}

func (s *Server) sendMessageBatch(c *call, in *SendMessageBatchRequest) (*SendMessageBatchResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkBatchIDs(len(in.Entries), func(i int) string { return deref(in.Entries[i].Id) }, "SendMessageBatchRequestEntry"); err != nil {
		return nil, err
	}
	entries := make([]sendEntry, len(in.Entries))
	total := 0
	for i, r := range in.Entries {
		entries[i] = sendEntry{id: *r.Id, body: r.MessageBody, delay: r.DelaySeconds, attrs: r.MessageAttributes,
			sysAttrs: r.MessageSystemAttributes, group: r.MessageGroupId, dedup: r.MessageDeduplicationId}
		total += entries[i].size()
	}
	if total > maxBatchBytes {
		return nil, errorf("BatchRequestTooLong", "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchBytes, total)
	}

	out := &SendMessageBatchResult{}
	var msgs []queue.SendInput
	var sent []int // entries index of each msgs element
	for i := range entries {
		m, err := entries[i].prepare()
		if err != nil {
			out.Failed = append(out.Failed, batchError(entries[i].id, err))
			continue
		}
		msgs = append(msgs, m)
		sent = append(sent, i)
	}
	if len(msgs) > 0 {
		res, err := q.Send(c.ctx, msgs)
		if err != nil {
			return nil, err
		}
		if len(res) != len(msgs) {
			return nil, errorf(codeInternalError, "The queue returned %d results for %d messages.", len(res), len(msgs))
		}
		for j, r := range res {
			e := &entries[sent[j]]
			if r.Err != nil {
				out.Failed = append(out.Failed, batchError(e.id, r.Err))
				continue
			}
			ok := SendMessageBatchResultEntry{Id: ptr(e.id), MessageId: ptr(r.MessageID)}
			ok.MD5OfMessageBody, ok.MD5OfMessageAttributes, ok.MD5OfMessageSystemAttributes = e.digests()
			if r.SequenceNumber != "" {
				ok.SequenceNumber = ptr(r.SequenceNumber)
			}
			out.Successful = append(out.Successful, ok)
		}
	}
	return out, nil
}
