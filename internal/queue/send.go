package queue

import (
	"container/heap"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sluice-mq/sluice/internal/logstore"
)

// Message limits (AWS's).
const (
	maxBatchEntries    = 10
	maxMessageAttrs    = 10
	maxAttrNameLen     = 256
	maxDataTypeLen     = 256
	maxGroupIDLen      = 128
	maxNumberPrecision = 38
)

var builderPool = sync.Pool{New: func() any { return new(batchBuilder) }}

// validChars reports whether s holds only the characters SQS allows in
// a message: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
func validChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != 0x9 && c != 0xA && c != 0xD {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

var (
	attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	numberRE   = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	// FIFO ids: alphanumeric characters and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~).
	fifoIDRE = regexp.MustCompile("^[!-~]{1,128}$")
)

// validateAttrs checks user message attributes and returns the bytes they
// count towards MaximumMessageSize (name + data type + value).
func validateAttrs(attrs map[string]MessageAttributeValue) (int, error) {
	if len(attrs) > maxMessageAttrs {
		return 0, errorf(CodeInvalidParameterValue, "Number of message attributes [%d] exceeds the allowed maximum [%d].", len(attrs), maxMessageAttrs)
	}
	size := 0
	for name, v := range attrs {
		lower := strings.ToLower(name)
		switch {
		case name == "" || len(name) > maxAttrNameLen || !attrNameRE.MatchString(name):
			return 0, errorf(CodeInvalidParameterValue, "Message (user) attribute name '%s' is invalid: it must be 1 to 256 of the characters A-Z a-z 0-9 _ - .", name)
		case strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon."):
			return 0, errorf(CodeInvalidParameterValue, "Message (user) attribute name '%s' is invalid: names starting with AWS. or Amazon. are reserved.", name)
		case strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, ".."):
			return 0, errorf(CodeInvalidParameterValue, "Message (user) attribute name '%s' is invalid: it cannot start or end with a period or hold two in a row.", name)
		}
		if err := validateAttrValue("Message (user) attribute", name, v); err != nil {
			return 0, err
		}
		size += len(name) + len(v.DataType) + len(v.BinaryValue)
		if v.StringValue != nil {
			size += len(*v.StringValue)
		}
	}
	return size, nil
}

func validateAttrValue(kind, name string, v MessageAttributeValue) error {
	base, _, _ := strings.Cut(v.DataType, ".")
	if len(v.DataType) > maxDataTypeLen || (base != "String" && base != "Number" && base != "Binary") ||
		strings.HasSuffix(v.DataType, ".") {
		return errorf(CodeInvalidParameterValue, "The type of %s '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", strings.ToLower(kind), name)
	}
	if base == "Binary" {
		if len(v.BinaryValue) == 0 || v.StringValue != nil {
			return errorf(CodeInvalidParameterValue, "%s '%s' must contain a non-empty value of type 'Binary'.", kind, name)
		}
		return nil
	}
	if v.StringValue == nil || *v.StringValue == "" || v.BinaryValue != nil {
		return errorf(CodeInvalidParameterValue, "%s '%s' must contain a non-empty value of type '%s'.", kind, name, base)
	}
	if !validChars(*v.StringValue) {
		return errorf(CodeInvalidParameterValue, "%s '%s' contains invalid characters.", kind, name)
	}
	if base == "Number" && !validNumber(*v.StringValue) {
		return errorf(CodeInvalidParameterValue, "Value %s for %s %s must be a number of up to 38 digits between -10^128 and 10^126.", *v.StringValue, strings.ToLower(kind), name)
	}
	return nil
}

// validNumber applies SQS's Number rules: up to 38 significant digits,
// between -10^128 and 10^126.
func validNumber(s string) bool {
	if !numberRE.MatchString(s) {
		return false
	}
	mant, exp, _ := strings.Cut(strings.ToLower(strings.TrimLeft(s, "+-")), "e")
	e := 0
	if exp != "" {
		n, err := strconv.Atoi(exp)
		if err != nil {
			return false
		}
		e = n
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return true // zero
	}
	sig := strings.TrimRight(digits, "0")
	if len(sig) > maxNumberPrecision {
		return false
	}
	// Decimal exponent of the leading digit.
	lead := len(strings.TrimLeft(intPart, "0")) - 1 + e
	if strings.TrimLeft(intPart, "0") == "" {
		lead = -(len(frac) - len(strings.TrimLeft(frac, "0"))) - 1 + e
	}
	return lead < 126 && lead >= -130
}

// prepare validates one entry against the queue's configuration and
// builds the message to store.
func (q *Queue) prepare(cfg *queueConfig, in *SendInput, nowMs int64, m *storedMessage) error {
	if in.Body == "" {
		return errorf(CodeMissingParameter, "The request must contain the parameter MessageBody.")
	}
	if !validChars(in.Body) {
		return errorf(CodeInvalidMessageContents, "Invalid binary character in the message body: the body must be valid UTF-8 holding only #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.")
	}
	asize, err := validateAttrs(in.Attributes)
	if err != nil {
		return err
	}
	if len(in.Body)+asize > cfg.maxSize {
		return errorf(CodeInvalidParameterValue, "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", cfg.maxSize)
	}
	var trace string
	for name, v := range in.SystemAttributes {
		if name != "AWSTraceHeader" {
			return errorf(CodeInvalidParameterValue, "Message system attribute name '%s' is invalid.", name)
		}
		if v.DataType != "String" {
			return errorf(CodeInvalidParameterValue, "Message system attribute '%s' must be of type String.", name)
		}
		if err := validateAttrValue("Message system attribute", name, v); err != nil {
			return err
		}
		trace = *v.StringValue
	}
	delay := cfg.delay
	if in.DelaySeconds != nil {
		if q.fifo {
			return errorf(CodeInvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.DelaySeconds)
		}
		if *in.DelaySeconds < 0 || *in.DelaySeconds > maxDelaySeconds {
			return errorf(CodeInvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", *in.DelaySeconds)
		}
		delay = *in.DelaySeconds
	}
	dedup := in.DedupID
	if q.fifo {
		if in.GroupID == "" {
			return errorf(CodeMissingParameter, "The request must contain the parameter MessageGroupId.")
		}
		if !fifoIDRE.MatchString(in.GroupID) {
			return errorf(CodeInvalidParameterValue, "Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", in.GroupID)
		}
		if dedup == "" {
			if !cfg.contentDedup {
				return errorf(CodeInvalidParameterValue, "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			}
			sum := sha256.Sum256([]byte(in.Body))
			dedup = hex.EncodeToString(sum[:])
		} else if !fifoIDRE.MatchString(dedup) {
			return errorf(CodeInvalidParameterValue, "Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.", dedup)
		}
	} else {
		if dedup != "" {
			return errorf(CodeInvalidParameterValue, "The request include parameter MessageDeduplicationId that is not valid for this queue type")
		}
		if in.GroupID != "" && !fifoIDRE.MatchString(in.GroupID) {
			return errorf(CodeInvalidParameterValue, "Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", in.GroupID)
		}
	}
	*m = storedMessage{
		sentMs: nowMs, visibleAt: nowMs + int64(delay)*1000,
		group: in.GroupID, dedup: dedup, trace: trace, attrs: in.Attributes, body: in.Body,
	}
	return nil
}

// Send stores a batch of 1 to 10 messages. Entries that fail validation
// (or deduplicate, or exceed the backpressure depth) get their result's
// Err; the others are durable (fsynced) when Send returns. The error
// return is for the whole call: no such queue, storage failure.
func (q *Queue) Send(ctx context.Context, msgs []SendInput) ([]SendResult, error) {
	if len(msgs) == 0 {
		return nil, errorf(CodeEmptyBatchRequest, "There should be at least one SendMessageBatchRequestEntry in the request.")
	}
	if len(msgs) > maxBatchEntries {
		return nil, errorf(CodeTooManyEntriesInBatchRequest, "Maximum number of entries per request are 10. You have sent %d.", len(msgs))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.fifo {
		q.sendMu.Lock()
		defer q.sendMu.Unlock()
	}
	now := q.now()
	nowMs := now.UnixMilli()
	q.mu.Lock()
	if err := q.usableLocked(); err != nil {
		q.mu.Unlock()
		return nil, err
	}
	cfg := *q.config()
	room := int64(-1)
	if cfg.maxDepth > 0 {
		room = max(cfg.maxDepth-q.depthLocked(), 0)
	}
	q.mu.Unlock()

	results := make([]SendResult, len(msgs))
	stored := make([]storedMessage, len(msgs))
	keep := make([]int, 0, len(msgs)) // indexes of entries to append
	var ids [maxBatchEntries * 16]byte
	if _, err := rand.Read(ids[:]); err != nil {
		return nil, fmt.Errorf("%w: random message IDs: %v", ErrStorage, err)
	}
	var batchDedup map[string]int // FIFO: deduplication ID -> first entry
	if q.fifo {
		batchDedup = map[string]int{}
	}
	for i := range msgs {
		m := &stored[i]
		if err := q.prepare(&cfg, &msgs[i], nowMs, m); err != nil {
			results[i].Err = err
			continue
		}
		copy(m.id[:], ids[i*16:])
		m.id[6] = m.id[6]&0x0f | 0x40 // UUID version 4
		m.id[8] = m.id[8]&0x3f | 0x80 // RFC 4122 variant
		if q.fifo {
			key := q.dedupKey(m.group, m.dedup)
			q.mu.Lock()
			d, dup := q.dedup[key]
			q.mu.Unlock()
			if dup && d.expire > nowMs {
				results[i].MessageID, results[i].SequenceNumber = d.id, d.seq
				continue
			}
			if j, dup := batchDedup[key]; dup {
				results[i].MessageID = messageIDString(stored[j].id)
				results[i].SequenceNumber = "" // filled in after the append
				results[i].Err = errDupInBatch(j)
				continue
			}
			batchDedup[key] = i
		}
		if room >= 0 {
			if room == 0 {
				results[i].Err = errorf(CodeRequestThrottled, "Queue %s is at its maximum depth (%s %d); retry later.", q.name, AttrSluiceMaximumDepth, cfg.maxDepth)
				continue
			}
			room--
		}
		keep = append(keep, i)
	}
	if len(keep) > 0 {
		if err := q.appendAndRegister(stored, keep, results, nowMs); err != nil {
			return nil, err
		}
	}
	// Entries that repeat an earlier entry's deduplication ID in the same
	// batch get that entry's result.
	for i := range results {
		var d *dupInBatch
		if errors.As(results[i].Err, &d) {
			results[i] = results[d.index]
		}
	}
	return results, nil
}

// dupInBatch marks an entry that deduplicates against an earlier entry of
// the same batch; Send replaces it with that entry's result.
type dupInBatch struct{ index int }

func (d *dupInBatch) Error() string { return "queue: duplicate within batch" }

func errDupInBatch(i int) error { return &dupInBatch{index: i} }

// appendAndRegister appends the kept messages as one batch and registers
// them: delays, FIFO deduplication, counters, woken long polls.
func (q *Queue) appendAndRegister(stored []storedMessage, keep []int, results []SendResult, nowMs int64) error {
	b := builderPool.Get().(*batchBuilder)
	defer builderPool.Put(b)
	b.reset()
	for _, i := range keep {
		b.add(&stored[i])
	}
	res, err := q.log.Append(b.finish(), logstore.AppendOptions{})
	if err != nil {
		q.mu.Lock()
		defer q.mu.Unlock()
		if uerr := q.usableLocked(); uerr != nil {
			return uerr
		}
		return fmt.Errorf("%w: queue %s: append: %v", ErrStorage, q.name, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UnixMilli()
	woke := false
	for k, i := range keep {
		m := &stored[i]
		off := res.BaseOffset + int64(k)
		results[i].MessageID = messageIDString(m.id)
		if q.fifo {
			results[i].SequenceNumber = sequenceNumber(off)
			q.rememberDedupLocked(m.group, m.dedup, results[i].MessageID, results[i].SequenceNumber, nowMs+dedupWindow.Milliseconds())
		}
		q.registerLocked(off, m.visibleAt, now, m.visibleAt > m.sentMs)
		woke = woke || m.visibleAt <= now
	}
	q.sent += int64(len(keep))
	if woke {
		q.wakeLocked()
	}
	return nil
}

// registerLocked files a newly appended message: a delayed one goes to
// the delay heap; one already past the scan cursor (a scan saw it while it
// was delayed) goes to ready.
func (q *Queue) registerLocked(off, visibleAt, now int64, delayed bool) {
	st := &q.st
	if off < st.del.floor || st.del.has(off) {
		return
	}
	if visibleAt > now {
		heap.Push(&st.delayed, delayItem{visibleAt: visibleAt, offset: off})
		return
	}
	if delayed {
		st.gen++ // a FIFO scan may have seen it while it was still delayed
	}
	if !q.fifo && off < st.cursor && st.tracked[off] == nil {
		heap.Push(&st.ready, off)
	}
}

// depthLocked is visible + delayed + in flight.
func (q *Queue) depthLocked() int64 {
	return q.log.HighWatermark() - q.st.del.floor - q.st.del.count
}
