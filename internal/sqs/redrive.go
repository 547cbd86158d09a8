package sqs

// redrive.go: dead-letter queues and message move tasks —
// ListDeadLetterSourceQueues, StartMessageMoveTask, ListMessageMoveTasks,
// CancelMessageMoveTask. The engine runs the tasks (at the rate asked,
// MaxNumberOfMessagesPerSecond 1-500, unlimited when absent), checks the
// ARNs (the source must be a dead-letter queue; the destination defaults to
// each message's original source) and reports progress.

func init() {
	register("ListDeadLetterSourceQueues", op((*Server).listDeadLetterSourceQueues))
	register("StartMessageMoveTask", op((*Server).startMessageMoveTask))
	register("ListMessageMoveTasks", op((*Server).listMessageMoveTasks))
	register("CancelMessageMoveTask", op((*Server).cancelMessageMoveTask))
}

func (s *Server) listDeadLetterSourceQueues(c *call, in *ListDeadLetterSourceQueuesRequest) (*ListDeadLetterSourceQueuesResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	srcs := s.queues.DeadLetterSources(q.Name())
	names := make([]string, len(srcs))
	for i, sq := range srcs {
		names[i] = sq.Name()
	}
	names, tok, err := page(names, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := &ListDeadLetterSourceQueuesResult{NextToken: tok}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, s.queueURL(c, n))
	}
	return out, nil
}

func (s *Server) startMessageMoveTask(_ *call, in *StartMessageMoveTaskRequest) (*StartMessageMoveTaskResult, error) {
	if err := checkRange("MaxNumberOfMessagesPerSecond", in.MaxNumberOfMessagesPerSecond, 1, maxMoveTasksPerSecond, "Must be between 1 and 500, if provided."); err != nil {
		return nil, err
	}
	rate := 0
	if in.MaxNumberOfMessagesPerSecond != nil {
		rate = int(*in.MaxNumberOfMessagesPerSecond)
	}
	h, err := s.queues.StartMoveTask(*in.SourceArn, deref(in.DestinationArn), rate)
	if err != nil {
		return nil, err
	}
	return &StartMessageMoveTaskResult{TaskHandle: &h}, nil
}

func (s *Server) listMessageMoveTasks(_ *call, in *ListMessageMoveTasksRequest) (*ListMessageMoveTasksResult, error) {
	if err := checkRange("MaxResults", in.MaxResults, 1, maxListMoveTaskResults, "Must be between 1 and 10, if provided."); err != nil {
		return nil, err
	}
	max := 1 // AWS's default
	if in.MaxResults != nil {
		max = int(*in.MaxResults)
	}
	tasks, err := s.queues.ListMoveTasks(*in.SourceArn, max)
	if err != nil {
		return nil, err
	}
	out := &ListMessageMoveTasksResult{}
	for _, t := range tasks {
		e := ListMessageMoveTasksResultEntry{
			Status:                            ptr(t.Status),
			SourceArn:                         ptr(t.SourceARN),
			ApproximateNumberOfMessagesMoved:  ptr(t.Moved),
			ApproximateNumberOfMessagesToMove: ptr(t.ToMove),
			StartedTimestamp:                  ptr(t.StartedTimestamp),
		}
		// AWS returns the handle only while the task runs.
		if t.Status == "RUNNING" && t.TaskHandle != "" {
			e.TaskHandle = ptr(t.TaskHandle)
		}
		if t.DestinationARN != "" {
			e.DestinationArn = ptr(t.DestinationARN)
		}
		if t.MaxPerSecond > 0 {
			e.MaxNumberOfMessagesPerSecond = ptr(int32(t.MaxPerSecond))
		}
		if t.FailureReason != "" {
			e.FailureReason = ptr(t.FailureReason)
		}
		out.Results = append(out.Results, e)
	}
	return out, nil
}

func (s *Server) cancelMessageMoveTask(_ *call, in *CancelMessageMoveTaskRequest) (*CancelMessageMoveTaskResult, error) {
	moved, err := s.queues.CancelMoveTask(*in.TaskHandle)
	if err != nil {
		return nil, err
	}
	return &CancelMessageMoveTaskResult{ApproximateNumberOfMessagesMoved: &moved}, nil
}
