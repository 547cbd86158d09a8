package sqs

// ack.go: DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility,
// ChangeMessageVisibilityBatch. Receipt handles are opaque to this
// package; the engine checks them (ReceiptHandleIsInvalid for forged or
// foreign ones, InvalidParameterValue "The receipt handle has expired" and
// MessageNotInflight where AWS answers so). Batches fail per entry except
// for the whole-request rules (1-10 entries, valid and distinct ids).

func init() {
	register("DeleteMessage", op((*Server).deleteMessage))
	register("DeleteMessageBatch", op((*Server).deleteMessageBatch))
	register("ChangeMessageVisibility", op((*Server).changeMessageVisibility))
	register("ChangeMessageVisibilityBatch", op((*Server).changeMessageVisibilityBatch))
}

func (s *Server) deleteMessage(_ *call, in *DeleteMessageRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkReceiptHandle(*in.ReceiptHandle); err != nil {
		return nil, err
	}
	if err := q.Delete(*in.ReceiptHandle); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}

func (s *Server) deleteMessageBatch(_ *call, in *DeleteMessageBatchRequest) (*DeleteMessageBatchResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkBatchIDs(len(in.Entries), func(i int) string { return deref(in.Entries[i].Id) }, "DeleteMessageBatchRequestEntry"); err != nil {
		return nil, err
	}
	errs := make([]error, len(in.Entries))
	var handles []string
	var at []int
	for i, e := range in.Entries {
		if errs[i] = checkReceiptHandle(*e.ReceiptHandle); errs[i] == nil {
			handles = append(handles, *e.ReceiptHandle)
			at = append(at, i)
		}
	}
	if len(handles) > 0 { // one journal write and one fsync for the batch
		for j, err := range q.DeleteBatch(handles) {
			errs[at[j]] = err
		}
	}
	out := &DeleteMessageBatchResult{}
	for i, e := range in.Entries {
		if errs[i] != nil {
			if _, fault := toAPIError(errs[i]); fault {
				return nil, errs[i] // storage trouble: the whole call fails
			}
			out.Failed = append(out.Failed, batchError(*e.Id, errs[i]))
			continue
		}
		out.Successful = append(out.Successful, DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (s *Server) changeMessageVisibility(_ *call, in *ChangeMessageVisibilityRequest) (*noOutput, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkReceiptHandle(*in.ReceiptHandle); err != nil {
		return nil, err
	}
	if err := checkVisibility(in.VisibilityTimeout); err != nil {
		return nil, err
	}
	if err := q.ChangeVisibility(*in.ReceiptHandle, int(*in.VisibilityTimeout)); err != nil {
		return nil, err
	}
	return &noOutput{}, nil
}

func (s *Server) changeMessageVisibilityBatch(_ *call, in *ChangeMessageVisibilityBatchRequest) (*ChangeMessageVisibilityBatchResult, error) {
	q, err := s.queueFor(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkBatchIDs(len(in.Entries), func(i int) string { return deref(in.Entries[i].Id) }, "ChangeMessageVisibilityBatchRequestEntry"); err != nil {
		return nil, err
	}
	errs := make([]error, len(in.Entries))
	var handles []string
	var timeouts []int
	var at []int
	for i, e := range in.Entries {
		switch {
		case checkReceiptHandle(*e.ReceiptHandle) != nil:
			errs[i] = checkReceiptHandle(*e.ReceiptHandle)
		case e.VisibilityTimeout == nil:
			errs[i] = missingParam("VisibilityTimeout")
		case checkVisibility(e.VisibilityTimeout) != nil:
			errs[i] = checkVisibility(e.VisibilityTimeout)
		default:
			handles = append(handles, *e.ReceiptHandle)
			timeouts = append(timeouts, int(*e.VisibilityTimeout))
			at = append(at, i)
		}
	}
	if len(handles) > 0 {
		for j, err := range q.ChangeVisibilityBatch(handles, timeouts) {
			errs[at[j]] = err
		}
	}
	out := &ChangeMessageVisibilityBatchResult{}
	for i, e := range in.Entries {
		if errs[i] != nil {
			if _, fault := toAPIError(errs[i]); fault {
				return nil, errs[i]
			}
			out.Failed = append(out.Failed, batchError(*e.Id, errs[i]))
			continue
		}
		out.Successful = append(out.Successful, ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func checkVisibility(v *int32) error {
	return checkRange("VisibilityTimeout", v, 0, maxVisibilityTimeout, "Must be >= 0 and <= 43200, if provided.")
}

// checkReceiptHandle refuses what cannot be a receipt handle before the
// engine parses it: empty, oversized or not printable ASCII.
func checkReceiptHandle(h string) error {
	if h == "" || len(h) > 4096 {
		return errorf("ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt handle.", truncate(h, 128))
	}
	for i := 0; i < len(h); i++ {
		if h[i] < ' ' || h[i] > '~' {
			return errorf("ReceiptHandleIsInvalid", "The input receipt handle is not a valid receipt handle.")
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
