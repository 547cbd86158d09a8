package sqs

// url.go: queue URLs and pagination tokens.
//
// A queue URL is http://<host>:<port>/<account>/<name>, with the host the
// client addressed (its Host header), so that URLs work from wherever the
// client reached the broker. Incoming queue URLs are read leniently: only
// the last path segment (the name) matters, so URLs minted under another
// host name, or ElasticMQ-style /queue/<name> paths, still resolve.

import (
	"encoding/base64"
	"net/url"
	"strings"

	"github.com/sluice-mq/sluice/internal/queue"
)

func (s *Server) queueURL(c *call, name string) string {
	return "http://" + c.host + "/" + s.account + "/" + name
}

// queueName extracts the queue name from a queue URL.
func queueName(queueURL string) (string, error) {
	p := queueURL
	if strings.Contains(queueURL, "://") {
		u, err := url.Parse(queueURL)
		if err != nil {
			return "", errorf("InvalidAddress", "The address %s is not valid for this endpoint.", sanitizeXMLText(queueURL))
		}
		p = u.Path
	}
	p = strings.Trim(p, "/")
	name := p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		name = p[i+1:]
	}
	if name == "" {
		return "", errorf("InvalidAddress", "The address %s is not valid for this endpoint.", sanitizeXMLText(queueURL))
	}
	return name, nil
}

// queueFor resolves a QueueUrl parameter to a live queue.
func (s *Server) queueFor(queueURL *string) (*queue.Queue, error) {
	name, err := queueName(deref(queueURL))
	if err != nil {
		return nil, err
	}
	q := s.queues.Get(name)
	if q == nil {
		return nil, errorf(codeQueueDoesNotExist, "The specified queue does not exist.")
	}
	return q, nil
}

// Pagination tokens are opaque to clients: base64url of "1:<last name>".
// The next page starts after that name.
func nextToken(lastName string) *string {
	t := base64.RawURLEncoding.EncodeToString([]byte("1:" + lastName))
	return &t
}

func parseNextToken(tok *string) (string, error) {
	if tok == nil || *tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	if err != nil || !strings.HasPrefix(string(b), "1:") {
		return "", invalidParam("Invalid NextToken value.")
	}
	return string(b[2:]), nil
}

// page cuts names (sorted) after the token; max 0 = no pagination (AWS
// then returns up to 1000 and no token).
func page(names []string, tok *string, max *int32) ([]string, *string, error) {
	after, err := parseNextToken(tok)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRange("MaxResults", max, 1, maxListQueuesResults, "MaxResults must be an integer between 1 and 1000."); err != nil {
		return nil, nil, err
	}
	start := 0
	if after != "" {
		for start < len(names) && names[start] <= after {
			start++
		}
	}
	names = names[start:]
	limit := maxListQueuesResults
	if max != nil {
		limit = int(*max)
	}
	if len(names) > limit {
		names = names[:limit]
		if max != nil {
			return names, nextToken(names[len(names)-1]), nil
		}
	}
	return names, nil, nil
}
