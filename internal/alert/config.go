package alert

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what a rule watches.
type Kind string

// Rule kinds.
const (
	// KindDLQDepth: messages (visible + in flight + delayed) in the
	// dead-letter queue of the target queue (its RedrivePolicy target);
	// when the target has no RedrivePolicy, the target itself is taken to
	// be the dead-letter queue.
	KindDLQDepth Kind = "dlq_depth"
	// KindOldestAge: age in seconds of the target queue's oldest message.
	KindOldestAge Kind = "oldest_age"
	// KindLag: total lag of the target consumer group (on one topic when
	// the rule names one).
	KindLag Kind = "lag"
	// KindQueueDepth: visible messages of the target queue
	// (ApproximateNumberOfMessages).
	KindQueueDepth Kind = "queue_depth"
)

var kinds = []Kind{KindDLQDepth, KindOldestAge, KindLag, KindQueueDepth}

// Rule is one alert rule. It fires when its value stays above Threshold
// for For.
type Rule struct {
	Name      string
	Kind      Kind
	Target    string  // a queue, or a consumer group for KindLag
	Topic     string  // KindLag only: limit the lag to this topic ("" = all)
	Threshold float64 // fires when value > Threshold (oldest_age: seconds)
	For       time.Duration
}

// Webhook is one endpoint that receives notifications.
type Webhook struct {
	URL     string
	Headers map[string]string // extra request headers (e.g. Authorization)
}

// Defaults of Config.
const (
	DefaultInterval   = 5 * time.Second
	DefaultRetries    = 5
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Minute
	DefaultTimeout    = 10 * time.Second
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("alert: invalid configuration")

// KeyError names the refused setting (an alert.* key) and why.
type KeyError struct {
	Key, Value, Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("alert: setting %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *KeyError) Unwrap() error { return ErrInvalidConfig }

// Settings is the result of parsing the alert.* broker settings.
type Settings struct {
	Rules    []Rule // sorted by name
	Webhooks []Webhook
	// Interval, Retries, Backoff, Timeout: zero means the default.
	Interval   time.Duration
	Retries    int // -1: no retries
	Backoff    time.Duration
	Timeout    time.Duration
	NoResolved bool // do not send resolved notifications
	HasAny     bool // some alert.* key was given
}

// Prefix starts every alert setting.
const Prefix = "alert."

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// ParseSettings reads the alert.* keys of vals (other keys are ignored)
// and validates them. Keys:
//
//	alert.<rule>.kind        dlq_depth | oldest_age | lag | queue_depth (required)
//	alert.<rule>.target      queue name; for lag a group id, or group/topic (required)
//	alert.<rule>.topic       lag only: the topic (then target is the whole group id)
//	alert.<rule>.threshold   number, fires when the value is above it (required);
//	                         oldest_age also takes a duration (90s, 1h)
//	alert.<rule>.for         how long the value must stay above (duration or seconds); default 0
//	alert.webhook.url        a webhook URL (http or https)
//	alert.webhook.<id>.url   more webhooks
//	alert.webhook[.<id>].header.<Name>  a request header for that webhook
//	alert.webhook.retries    retries after a failed POST; default 5
//	alert.webhook.backoff    first retry delay, doubling up to 1m; default 1s
//	alert.webhook.timeout    per POST; default 10s
//	alert.webhook.resolved   send resolved notifications; default true
//	alert.interval           evaluation interval; default 5s
//
// Errors are *KeyError naming the first bad key in name order.
func ParseSettings(vals map[string]string) (Settings, error) {
	var s Settings
	rules := map[string]*Rule{}
	seen := map[string]map[string]bool{} // rule -> fields given
	hooks := map[string]*Webhook{}       // "" = alert.webhook.url
	var hookOrder []string
	hook := func(id string) *Webhook {
		if h := hooks[id]; h != nil {
			return h
		}
		h := &Webhook{}
		hooks[id] = h
		hookOrder = append(hookOrder, id)
		return h
	}
	for _, key := range slices.Sorted(maps.Keys(vals)) {
		if !strings.HasPrefix(key, Prefix) {
			continue
		}
		s.HasAny = true
		v := strings.TrimSpace(vals[key])
		bad := func(reason string) error { return &KeyError{Key: key, Value: v, Reason: reason} }
		rest := strings.TrimPrefix(key, Prefix)
		parts := strings.Split(rest, ".")
		switch {
		case rest == "interval":
			d, err := parseDuration(v)
			if err != nil || d < 100*time.Millisecond {
				return s, bad("want a duration of at least 100ms (e.g. 5s)")
			}
			s.Interval = d
		case parts[0] == "webhook":
			if err := parseWebhookKey(&s, parts[1:], v, hook, bad); err != nil {
				return s, err
			}
		case len(parts) == 2:
			name, field := parts[0], parts[1]
			if !namePattern.MatchString(name) {
				return s, bad("a rule name is 1-100 letters, digits, '_' or '-'")
			}
			r := rules[name]
			if r == nil {
				r = &Rule{Name: name}
				rules[name] = r
				seen[name] = map[string]bool{}
			}
			seen[name][field] = true
			switch field {
			case "kind":
				if !slices.Contains(kinds, Kind(v)) {
					return s, bad("want one of dlq_depth, oldest_age, lag, queue_depth")
				}
				r.Kind = Kind(v)
			case "target":
				if v == "" {
					return s, bad("empty target")
				}
				r.Target = v
			case "topic":
				if v == "" {
					return s, bad("empty topic")
				}
				r.Topic = v
			case "threshold":
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					d, derr := parseDuration(v)
					if derr != nil {
						return s, bad("want a number (or, for oldest_age, a duration such as 1h)")
					}
					f = d.Seconds()
					seen[name]["threshold-duration"] = true
				}
				if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
					return s, bad("want a finite number >= 0")
				}
				r.Threshold = f
			case "for":
				d, err := parseDuration(v)
				if err != nil || d < 0 {
					return s, bad("want a duration (e.g. 5m) or seconds")
				}
				r.For = d
			default:
				return s, bad("unknown alert setting; a rule takes kind, target, threshold, for and topic")
			}
		default:
			return s, bad("unknown alert setting; want alert.<rule>.<kind|target|threshold|for|topic>, alert.webhook… or alert.interval")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		r := rules[name]
		for _, f := range []string{"kind", "target", "threshold"} {
			if !seen[name][f] {
				return s, &KeyError{Key: Prefix + name + "." + f, Reason: "missing (alert rule " + name + " needs kind, target and threshold)"}
			}
		}
		if r.Topic != "" && r.Kind != KindLag {
			return s, &KeyError{Key: Prefix + name + ".topic", Value: r.Topic, Reason: "only lag rules take a topic"}
		}
		if seen[name]["threshold-duration"] && r.Kind != KindOldestAge {
			return s, &KeyError{Key: Prefix + name + ".threshold", Value: vals[Prefix+name+".threshold"], Reason: "a duration threshold is only for oldest_age rules; want a number"}
		}
		if r.Kind == KindLag && r.Topic == "" {
			if i := strings.LastIndexByte(r.Target, '/'); i > 0 && i < len(r.Target)-1 {
				r.Target, r.Topic = r.Target[:i], r.Target[i+1:]
			}
		}
		s.Rules = append(s.Rules, *r)
	}
	for _, id := range hookOrder {
		h := hooks[id]
		key := Prefix + "webhook.url"
		if id != "" {
			key = Prefix + "webhook." + id + ".url"
		}
		if h.URL == "" {
			return s, &KeyError{Key: key, Reason: "missing (a webhook with headers needs a url)"}
		}
		s.Webhooks = append(s.Webhooks, *h)
	}
	return s, nil
}

func parseWebhookKey(s *Settings, parts []string, v string, hook func(string) *Webhook, bad func(string) error) error {
	if len(parts) == 1 {
		switch parts[0] {
		case "url":
			if err := checkURL(v); err != nil {
				return bad(err.Error())
			}
			hook("").URL = v
		case "retries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100 {
				return bad("want an integer from 0 to 100")
			}
			s.Retries = n
			if n == 0 {
				s.Retries = -1
			}
		case "backoff":
			d, err := parseDuration(v)
			if err != nil || d <= 0 {
				return bad("want a positive duration (e.g. 1s)")
			}
			s.Backoff = d
		case "timeout":
			d, err := parseDuration(v)
			if err != nil || d <= 0 {
				return bad("want a positive duration (e.g. 10s)")
			}
			s.Timeout = d
		case "resolved":
			switch strings.ToLower(v) {
			case "true":
				s.NoResolved = false
			case "false":
				s.NoResolved = true
			default:
				return bad("not true or false")
			}
		default:
			return bad("unknown webhook setting; want url, retries, backoff, timeout, resolved, header.<Name> or <id>.url")
		}
		return nil
	}
	// header.<Name>, <id>.url, <id>.header.<Name>
	id := ""
	if parts[0] != "header" {
		id, parts = parts[0], parts[1:]
		if !namePattern.MatchString(id) {
			return bad("a webhook id is letters, digits, '_' or '-'")
		}
	}
	switch {
	case len(parts) == 1 && parts[0] == "url" && id != "":
		if err := checkURL(v); err != nil {
			return bad(err.Error())
		}
		hook(id).URL = v
	case len(parts) == 2 && parts[0] == "header" && parts[1] != "":
		h := hook(id)
		if h.Headers == nil {
			h.Headers = map[string]string{}
		}
		h.Headers[parts[1]] = v
	default:
		return bad("unknown webhook setting; want alert.webhook.<id>.url or alert.webhook[.<id>].header.<Name>")
	}
	return nil
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http:// or https:// URL")
	}
	return nil
}

// parseDuration takes a Go duration ("5m", "1h30m") or a number of
// seconds.
func parseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e9 {
			return 0, errors.New("out of range")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}
