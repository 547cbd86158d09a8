package sqs

// tags.go: TagQueue, UntagQueue, ListQueueTags. Tag limits (50 per queue,
// key and value lengths) are the engine's.

func init() {
	register("TagQueue", op((*Server).tagQueue))
	register("UntagQueue", op((*Server).untagQueue))
	register("ListQueueTags", op((*Server).listQueueTags))
}

func (s *Server) tagQueue(_ *call, in *TagQueueRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := q.Tag(in.Tags); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}

func (s *Server) untagQueue(_ *call, in *UntagQueueRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := q.Untag(in.TagKeys); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}

func (s *Server) listQueueTags(_ *call, in *ListQueueTagsRequest) (*ListQueueTagsResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return &ListQueueTagsResult{Tags: q.Tags()}, nil
}
