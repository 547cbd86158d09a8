package queue

// Queue attributes: names, defaults, ranges and validation, as AWS
// documents them for CreateQueue / SetQueueAttributes. The catalog keeps
// only the attributes a user set (normalized); queueConfig is the
// effective configuration with defaults applied.

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
)

// Attribute names.
const (
	AttrDelaySeconds                  = "DelaySeconds"
	AttrMaximumMessageSize            = "MaximumMessageSize"
	AttrMessageRetentionPeriod        = "MessageRetentionPeriod"
	AttrPolicy                        = "Policy"
	AttrReceiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
	AttrVisibilityTimeout             = "VisibilityTimeout"
	AttrRedrivePolicy                 = "RedrivePolicy"
	AttrRedriveAllowPolicy            = "RedriveAllowPolicy"
	AttrKmsMasterKeyID                = "KmsMasterKeyId"
	AttrKmsDataKeyReusePeriodSeconds  = "KmsDataKeyReusePeriodSeconds"
	AttrSqsManagedSseEnabled          = "SqsManagedSseEnabled"
	AttrFifoQueue                     = "FifoQueue"
	AttrContentBasedDeduplication     = "ContentBasedDeduplication"
	AttrDeduplicationScope            = "DeduplicationScope"
	AttrFifoThroughputLimit           = "FifoThroughputLimit"
	// AttrSluiceMaximumDepth is Sluice's backpressure extension: when the
	// queue holds this many messages (visible + delayed + in flight),
	// sends fail fast with RequestThrottled. 0 (the default) = unlimited.
	AttrSluiceMaximumDepth = "SluiceMaximumDepth"

	AttrApproximateNumberOfMessages           = "ApproximateNumberOfMessages"
	AttrApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	AttrApproximateNumberOfMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	AttrCreatedTimestamp                      = "CreatedTimestamp"
	AttrLastModifiedTimestamp                 = "LastModifiedTimestamp"
	AttrQueueArn                              = "QueueArn"
)

// Limits (AWS's).
const (
	maxDelaySeconds      = 900
	maxVisibilitySeconds = 43200
	maxWaitSeconds       = 20
	minMessageSize       = 1024
	maxMessageSize       = 1 << 20
	minRetention         = 60
	maxRetention         = 1209600
	maxReceiveCountLimit = 1000
	maxRedriveSources    = 10
)

var readOnlyAttrs = map[string]bool{
	AttrApproximateNumberOfMessages: true, AttrApproximateNumberOfMessagesNotVisible: true,
	AttrApproximateNumberOfMessagesDelayed: true, AttrCreatedTimestamp: true,
	AttrLastModifiedTimestamp: true, AttrQueueArn: true,
}

var fifoOnlyAttrs = map[string]bool{
	AttrContentBasedDeduplication: true, AttrDeduplicationScope: true, AttrFifoThroughputLimit: true,
}

// redrivePolicy is a parsed RedrivePolicy.
type redrivePolicy struct {
	dlqARN          string
	dlqName         string
	maxReceiveCount int
}

// redriveAllow is a parsed RedriveAllowPolicy.
type redriveAllow struct {
	permission string // allowAll, denyAll, byQueue
	sources    []string
}

func (a *redriveAllow) allows(sourceARN string) bool {
	if a == nil {
		return true
	}
	switch a.permission {
	case "denyAll":
		return false
	case "byQueue":
		for _, s := range a.sources {
			if s == sourceARN {
				return true
			}
		}
		return false
	}
	return true
}

// queueConfig is a queue's effective configuration.
type queueConfig struct {
	fifo              bool
	delay             int // s
	maxSize           int
	retention         int // s
	wait              int // s
	visibility        int // s
	redrive           *redrivePolicy
	allow             *redriveAllow
	contentDedup      bool
	dedupPerGroup     bool
	maxDepth          int64
	kmsKey            string
	sseDefaultEnabled bool
}

// normalizeAttrs validates attrs for a queue (fifo says which kind) and
// returns them in their stored form. m resolves DLQ ARNs (nil: skip the
// checks that need other queues). creating allows FifoQueue.
func normalizeAttrs(m *Manager, name string, fifo bool, attrs map[string]string, creating bool) (map[string]string, error) {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		nv, err := normalizeAttr(m, name, fifo, k, v, creating)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	if out[AttrKmsMasterKeyID] != "" && out[AttrSqsManagedSseEnabled] == "true" {
		return nil, errorf(CodeInvalidAttributeName, "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.")
	}
	return out, nil
}

func invalidValue(attr string) *Error {
	return errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", attr)
}

func intAttr(attr, v string, lo, hi int) (string, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return "", invalidValue(attr)
	}
	return strconv.Itoa(n), nil
}

func boolAttr(attr, v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return "true", nil
	case "false":
		return "false", nil
	}
	return "", invalidValue(attr)
}

func normalizeAttr(m *Manager, name string, fifo bool, k, v string, creating bool) (string, error) {
	if readOnlyAttrs[k] {
		return "", errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
	}
	if fifoOnlyAttrs[k] && !fifo {
		return "", errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
	}
	switch k {
	case AttrDelaySeconds:
		return intAttr(k, v, 0, maxDelaySeconds)
	case AttrMaximumMessageSize:
		return intAttr(k, v, minMessageSize, maxMessageSize)
	case AttrMessageRetentionPeriod:
		return intAttr(k, v, minRetention, maxRetention)
	case AttrReceiveMessageWaitTimeSeconds:
		return intAttr(k, v, 0, maxWaitSeconds)
	case AttrVisibilityTimeout:
		return intAttr(k, v, 0, maxVisibilitySeconds)
	case AttrKmsDataKeyReusePeriodSeconds:
		return intAttr(k, v, 60, 86400)
	case AttrKmsMasterKeyID:
		return v, nil
	case AttrSqsManagedSseEnabled, AttrContentBasedDeduplication:
		return boolAttr(k, v)
	case AttrFifoQueue:
		if !creating {
			return "", errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
		}
		b, err := boolAttr(k, v)
		if err != nil || (b == "true") != fifo {
			return "", invalidValue(k)
		}
		return b, nil
	case AttrDeduplicationScope:
		if v != "queue" && v != "messageGroup" {
			return "", invalidValue(k)
		}
		return v, nil
	case AttrFifoThroughputLimit:
		if v != "perQueue" && v != "perMessageGroupId" {
			return "", invalidValue(k)
		}
		return v, nil
	case AttrSluiceMaximumDepth:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return "", invalidValue(k)
		}
		return strconv.FormatInt(n, 10), nil
	case AttrPolicy:
		if v == "" {
			return "", nil
		}
		var obj map[string]any
		if json.Unmarshal([]byte(v), &obj) != nil {
			return "", invalidValue(k)
		}
		return v, nil
	case AttrRedrivePolicy:
		if v == "" {
			return "", nil
		}
		rp, err := parseRedrivePolicy(m, v)
		if err != nil {
			return "", err
		}
		if m != nil {
			if err := m.checkDLQ(name, fifo, rp); err != nil {
				return "", err
			}
		}
		return formatRedrivePolicy(rp), nil
	case AttrRedriveAllowPolicy:
		if v == "" {
			return "", nil
		}
		ra, err := parseRedriveAllow(v)
		if err != nil {
			return "", err
		}
		return formatRedriveAllow(ra), nil
	}
	return "", errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
}

func redriveError(v, reason string) *Error {
	return errorf(CodeInvalidParameterValue, "Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
}

func parseRedrivePolicy(m *Manager, v string) (*redrivePolicy, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, redriveError(v, "Redrive policy is not a valid JSON map.")
	}
	for k := range raw {
		if k != "deadLetterTargetArn" && k != "maxReceiveCount" {
			return nil, redriveError(v, "Only following keys are allowed: deadLetterTargetArn, maxReceiveCount.")
		}
	}
	var arn string
	if err := json.Unmarshal(raw["deadLetterTargetArn"], &arn); err != nil || arn == "" {
		return nil, redriveError(v, "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	mrc, ok := jsonInt(raw["maxReceiveCount"])
	if !ok {
		return nil, redriveError(v, "Redrive policy does not contain mandatory attribute: maxReceiveCount.")
	}
	if mrc < 1 || mrc > maxReceiveCountLimit {
		return nil, redriveError(v, "Invalid value for maxReceiveCount: "+strconv.FormatInt(mrc, 10)+", valid values are from 1 to 1000 both inclusive.")
	}
	name, ok := arnQueueName(m, arn)
	if !ok {
		return nil, redriveError(v, "Invalid value for deadLetterTargetArn.")
	}
	return &redrivePolicy{dlqARN: arn, dlqName: name, maxReceiveCount: int(mrc)}, nil
}

// jsonInt accepts a JSON number or a string holding one (AWS accepts both
// for maxReceiveCount).
func jsonInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func formatRedrivePolicy(rp *redrivePolicy) string {
	b, _ := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{rp.dlqARN, rp.maxReceiveCount})
	return string(b)
}

func parseRedriveAllow(v string) (*redriveAllow, error) {
	bad := func(reason string) (*redriveAllow, error) {
		return nil, errorf(CodeInvalidParameterValue, "Value %s for parameter RedriveAllowPolicy is invalid. Reason: %s", v, reason)
	}
	var raw struct {
		RedrivePermission string    `json:"redrivePermission"`
		SourceQueueArns   *[]string `json:"sourceQueueArns"`
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return bad("Amazon SQS can't parse the redrive allow policy.")
	}
	ra := &redriveAllow{permission: raw.RedrivePermission}
	switch raw.RedrivePermission {
	case "allowAll", "denyAll":
		if raw.SourceQueueArns != nil && len(*raw.SourceQueueArns) > 0 {
			return bad("sourceQueueArns may only be given with redrivePermission byQueue.")
		}
	case "byQueue":
		if raw.SourceQueueArns == nil || len(*raw.SourceQueueArns) == 0 || len(*raw.SourceQueueArns) > maxRedriveSources {
			return bad("byQueue needs 1 to 10 sourceQueueArns.")
		}
		ra.sources = append(ra.sources, *raw.SourceQueueArns...)
	default:
		return bad("redrivePermission must be allowAll, denyAll or byQueue.")
	}
	return ra, nil
}

func formatRedriveAllow(ra *redriveAllow) string {
	v := struct {
		RedrivePermission string   `json:"redrivePermission"`
		SourceQueueArns   []string `json:"sourceQueueArns,omitempty"`
	}{ra.permission, ra.sources}
	b, _ := json.Marshal(v)
	return string(b)
}

// configFrom computes the effective configuration from stored attributes
// (already validated). References to other queues are not resolved here.
func configFrom(name string, attrs map[string]string) queueConfig {
	c := queueConfig{
		fifo:              strings.HasSuffix(name, ".fifo"),
		maxSize:           maxMessageSize,
		retention:         345600,
		visibility:        30,
		sseDefaultEnabled: true,
	}
	atoi := func(k string, d int) int {
		if n, err := strconv.Atoi(attrs[k]); err == nil {
			return n
		}
		return d
	}
	c.delay = atoi(AttrDelaySeconds, 0)
	c.maxSize = atoi(AttrMaximumMessageSize, c.maxSize)
	c.retention = atoi(AttrMessageRetentionPeriod, c.retention)
	c.wait = atoi(AttrReceiveMessageWaitTimeSeconds, 0)
	c.visibility = atoi(AttrVisibilityTimeout, c.visibility)
	c.contentDedup = attrs[AttrContentBasedDeduplication] == "true"
	c.dedupPerGroup = attrs[AttrDeduplicationScope] == "messageGroup"
	c.maxDepth, _ = strconv.ParseInt(attrs[AttrSluiceMaximumDepth], 10, 64)
	c.kmsKey = attrs[AttrKmsMasterKeyID]
	if v := attrs[AttrRedrivePolicy]; v != "" {
		if rp, err := parseRedrivePolicy(nil, v); err == nil {
			c.redrive = rp
		}
	}
	if v := attrs[AttrRedriveAllowPolicy]; v != "" {
		if ra, err := parseRedriveAllow(v); err == nil {
			c.allow = ra
		}
	}
	return c
}

// effectiveAttrs lists the configured attributes as GetQueueAttributes
// shows them: every settable attribute with its value or default.
func effectiveAttrs(name string, stored map[string]string) map[string]string {
	c := configFrom(name, stored)
	out := map[string]string{
		AttrDelaySeconds:                  strconv.Itoa(c.delay),
		AttrMaximumMessageSize:            strconv.Itoa(c.maxSize),
		AttrMessageRetentionPeriod:        strconv.Itoa(c.retention),
		AttrReceiveMessageWaitTimeSeconds: strconv.Itoa(c.wait),
		AttrVisibilityTimeout:             strconv.Itoa(c.visibility),
	}
	sse := stored[AttrSqsManagedSseEnabled]
	if sse == "" {
		sse = strconv.FormatBool(c.kmsKey == "")
	}
	out[AttrSqsManagedSseEnabled] = sse
	for _, k := range []string{AttrPolicy, AttrRedrivePolicy, AttrRedriveAllowPolicy, AttrKmsMasterKeyID, AttrSluiceMaximumDepth} {
		if v := stored[k]; v != "" && v != "0" {
			out[k] = v
		}
	}
	if c.kmsKey != "" {
		out[AttrKmsDataKeyReusePeriodSeconds] = strconv.Itoa(atoiDefault(stored[AttrKmsDataKeyReusePeriodSeconds], 300))
	}
	if c.fifo {
		out[AttrFifoQueue] = "true"
		out[AttrContentBasedDeduplication] = strconv.FormatBool(c.contentDedup)
		out[AttrDeduplicationScope] = valueOr(stored[AttrDeduplicationScope], "queue")
		out[AttrFifoThroughputLimit] = valueOr(stored[AttrFifoThroughputLimit], "perQueue")
	}
	return out
}

func atoiDefault(s string, d int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return d
}

func valueOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// sameAttrs reports whether the attributes given to CreateQueue match an
// existing queue's: every given attribute must equal its effective value.
func sameAttrs(name string, existing, given map[string]string) (string, bool) {
	eff := effectiveAttrs(name, existing)
	for k, v := range given {
		if k == AttrFifoQueue {
			continue // checked by the name
		}
		want, ok := eff[k]
		if !ok {
			want = "" // unset optional attribute; "" is its normalized form
			if k == AttrSluiceMaximumDepth {
				want = "0"
			}
		}
		if v != want {
			return k, false
		}
	}
	return "", true
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// validateQueueName applies SQS's rules: 1-80 characters of [A-Za-z0-9_-],
// the ".fifo" suffix (counted in the 80) exactly when the queue is FIFO.
func validateQueueName(name string, fifo bool) error {
	base := name
	if fifo {
		if !strings.HasSuffix(name, ".fifo") || len(name) > 80 {
			return errorf(CodeInvalidParameterValue, "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
		}
		base = strings.TrimSuffix(name, ".fifo")
	}
	if !queueNameRE.MatchString(base) {
		return errorf(CodeInvalidParameterValue, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	return nil
}

// ARN parsing.

func (m *Manager) arnPrefix() string {
	return "arn:aws:sqs:" + m.cfg.Region + ":" + m.cfg.AccountID + ":"
}

// arnQueueName returns the queue name of an ARN of this broker's region
// and account (any region and account when m is nil).
func arnQueueName(m *Manager, arn string) (string, bool) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5] == "" {
		return "", false
	}
	if m != nil && !strings.HasPrefix(arn, m.arnPrefix()) {
		return "", false
	}
	return parts[5], true
}

func cloneAttrs(a map[string]string) map[string]string {
	if a == nil {
		return map[string]string{}
	}
	return maps.Clone(a)
}

// checkDLQ validates a redrive policy against the queues that exist.
func (m *Manager) checkDLQ(source string, fifo bool, rp *redrivePolicy) error {
	v := formatRedrivePolicy(rp)
	if rp.dlqName == source {
		return redriveError(v, "A queue cannot be its own dead-letter queue.")
	}
	dlq := m.Get(rp.dlqName)
	if dlq == nil {
		return redriveError(v, "Dead letter target does not exist.")
	}
	if dlq.IsFIFO() != fifo {
		return redriveError(v, "Dead-letter queue must be same type of queue as the source.")
	}
	if !dlq.config().allow.allows(m.ARN(source)) {
		return redriveError(v, fmt.Sprintf("The dead-letter queue %s does not allow this queue as a source (RedriveAllowPolicy).", rp.dlqName))
	}
	return nil
}
