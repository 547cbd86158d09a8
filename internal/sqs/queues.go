package sqs

// queues.go: the queue lifecycle actions — CreateQueue, DeleteQueue,
// ListQueues, GetQueueUrl, GetQueueAttributes, SetQueueAttributes,
// PurgeQueue. Names, attribute names and values are checked by the engine
// (QueueAlreadyExists / QueueNameExists, InvalidAttributeName,
// InvalidAttributeValue, PurgeQueueInProgress …).
//
// Served as AWS documents them, with these differences:
//   - QueueOwnerAWSAccountId is accepted and ignored (one account).
//   - ListQueues without MaxResults returns at most 1000 queues and no
//     NextToken, like AWS; with MaxResults it pages with an opaque token.

import (
	"slices"
	"strings"
)

func init() {
	register("CreateQueue", op((*Server).createQueue))
	register("DeleteQueue", op((*Server).deleteQueue))
	register("ListQueues", op((*Server).listQueues))
	register("GetQueueUrl", op((*Server).getQueueURL))
	register("GetQueueAttributes", op((*Server).getQueueAttributes))
	register("SetQueueAttributes", op((*Server).setQueueAttributes))
	register("PurgeQueue", op((*Server).purgeQueue))
}

func (s *Server) createQueue(c *call, in *CreateQueueRequest) (*CreateQueueResult, error) {
	q, err := s.queues.Create(*in.QueueName, in.Attributes, in.Tags)
	if err != nil {
		return nil, err
	}
	return &CreateQueueResult{QueueUrl: ptr(s.queueURL(c, q.Name()))}, nil
}

func (s *Server) deleteQueue(_ *call, in *DeleteQueueRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := s.queues.Delete(q.Name()); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}

func (s *Server) listQueues(c *call, in *ListQueuesRequest) (*ListQueuesResult, error) {
	qs := s.queues.List(deref(in.QueueNamePrefix))
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name()
	}
	slices.Sort(names)
	names, tok, err := page(names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &ListQueuesResult{NextToken: tok}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(c, n))
	}
	return out, nil
}

func (s *Server) getQueueURL(c *call, in *GetQueueUrlRequest) (*GetQueueUrlResult, error) {
	q := s.queues.Get(*in.QueueName)
	if q == nil {
		return nil, errorf(codeQueueDoesNotExist, "The specified queue does not exist.")
	}
	return &GetQueueUrlResult{QueueUrl: ptr(s.queueURL(c, q.Name()))}, nil
}

func (s *Server) getQueueAttributes(_ *call, in *GetQueueAttributesRequest) (*GetQueueAttributesResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.AttributeNames) == 0 {
		// AWS returns nothing when no name is asked for.
		return &GetQueueAttributesResult{}, nil
	}
	for _, n := range in.AttributeNames {
		// AWS's names (from the model) and Sluice's extensions.
		if !queueAttributeNames[n] && !strings.HasPrefix(n, "Sluice") {
			return nil, errorf("InvalidAttributeName", "Unknown Attribute %s.", n)
		}
	}
	attrs, err := q.Attributes(in.AttributeNames)
	if err != nil {
		return nil, err
	}
	return &GetQueueAttributesResult{Attributes: attrs}, nil
}

func (s *Server) setQueueAttributes(_ *call, in *SetQueueAttributesRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := q.SetAttributes(in.Attributes); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}

func (s *Server) purgeQueue(_ *call, in *PurgeQueueRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := q.Purge(); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}
