package queue

// Message move tasks (StartMessageMoveTask, ListMessageMoveTasks,
// CancelMessageMoveTask): redrive a dead-letter queue back to the queues
// its messages came from (each message records its source) or to a given
// destination, at most MaxNumberOfMessagesPerSecond. A task moves the
// messages visible in the DLQ until none is left (in-flight ones are
// skipped, as SQS does), then completes. One active task per source.
//
// Tasks live in memory: a restart ends them (the messages moved so far
// stay moved; the rest stay in the DLQ), and ListMessageMoveTasks shows
// the tasks since the broker started (the 10 most recent per source).

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Task statuses, as SQS names them.
const (
	TaskRunning    = "RUNNING"
	TaskCompleted  = "COMPLETED"
	TaskCancelling = "CANCELLING"
	TaskCancelled  = "CANCELLED"
	TaskFailed     = "FAILED"

	maxMoveRate      = 500
	tasksKeptPerQ    = 10
	defaultMoveBurst = 10
)

type moveTask struct {
	m         *Manager
	handle    string
	sourceARN string
	destARN   string
	source    *Queue
	dest      *Queue // nil: back to each message's source
	rate      int
	given     int // MaxNumberOfMessagesPerSecond as given (0 = not given)
	started   int64

	mu      sync.Mutex
	status  string
	moved   int64
	toMove  int64
	failure string

	cancel     chan struct{}
	cancelOnce sync.Once
	done       chan struct{}
}

func notFound(param string) *Error {
	return errorf(CodeResourceNotFound, "The resource that you specified for the %s parameter doesn't exist.", param)
}

// StartMoveTask (StartMessageMoveTask) starts moving messages out of the dead-letter
// queue sourceARN: to destARN, or ("") back to each message's original
// source queue, at most maxPerSecond messages a second (0: as fast as
// Sluice allows, 500/s). It returns the task handle.
func (m *Manager) StartMoveTask(sourceARN, destARN string, maxPerSecond int) (string, error) {
	srcName, ok := arnQueueName(m, sourceARN)
	src := m.Get(srcName)
	if !ok || src == nil {
		return "", notFound("SourceArn")
	}
	if len(m.DeadLetterSources(srcName)) == 0 {
		return "", errorf(CodeInvalidParameterValue, "Source queue must be configured as a Dead Letter Queue.")
	}
	var dst *Queue
	if destARN != "" {
		name, ok := arnQueueName(m, destARN)
		if dst = m.Get(name); !ok || dst == nil {
			return "", notFound("DestinationArn")
		}
		if dst == src {
			return "", errorf(CodeInvalidParameterValue, "The destination queue must differ from the source queue.")
		}
		if dst.IsFIFO() != src.IsFIFO() {
			return "", errorf(CodeInvalidParameterValue, "The destination queue must be of the same type (standard or FIFO) as the source queue.")
		}
	}
	if maxPerSecond < 0 || maxPerSecond > maxMoveRate {
		return "", errorf(CodeInvalidParameterValue, "Value %d for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: must be between 1 and %d.", maxPerSecond, maxMoveRate)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("%w: %v", ErrStorage, err)
	}
	hb, _ := json.Marshal(struct {
		TaskID    string `json:"taskId"`
		SourceArn string `json:"sourceArn"`
	}{messageIDString(raw), sourceARN})
	t := &moveTask{
		m: m, handle: base64.StdEncoding.EncodeToString(hb), sourceARN: sourceARN, destARN: destARN,
		source: src, dest: dst, rate: maxPerSecond, given: maxPerSecond, started: m.cfg.Now().UnixMilli(),
		status: TaskRunning, toMove: src.Stats().Visible,
		cancel: make(chan struct{}), done: make(chan struct{}),
	}
	if t.rate == 0 {
		t.rate = maxMoveRate
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", ErrClosed
	}
	kept := m.tasks[:0]
	perSource := 0
	for i := len(m.tasks) - 1; i >= 0; i-- {
		o := m.tasks[i]
		if o.sourceARN != sourceARN {
			continue
		}
		if s := o.getStatus(); s == TaskRunning || s == TaskCancelling {
			m.mu.Unlock()
			return "", errorf(CodeInvalidParameterValue, "There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
		}
	}
	// Keep the most recent finished tasks per source.
	for i := len(m.tasks) - 1; i >= 0; i-- {
		if m.tasks[i].sourceARN == sourceARN {
			perSource++
		}
	}
	drop := perSource - (tasksKeptPerQ - 1)
	for _, o := range m.tasks {
		if o.sourceARN == sourceARN && drop > 0 {
			drop--
			continue
		}
		kept = append(kept, o)
	}
	m.tasks = append(kept, t)
	m.wg.Add(1)
	m.mu.Unlock()
	go t.run()
	return t.handle, nil
}

func (t *moveTask) getStatus() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

func (t *moveTask) finish(status, reason string) {
	t.mu.Lock()
	if t.status == TaskRunning || t.status == TaskCancelling {
		t.status, t.failure = status, reason
	}
	t.mu.Unlock()
}

func (t *moveTask) cancelAndWait() {
	t.cancelOnce.Do(func() {
		t.mu.Lock()
		if t.status == TaskRunning {
			t.status = TaskCancelling
		}
		t.mu.Unlock()
		close(t.cancel)
	})
	<-t.done
}

// run moves messages until the source has no visible one left.
func (t *moveTask) run() {
	defer t.m.wg.Done()
	defer close(t.done)
	burst := float64(max(defaultMoveBurst, min(t.rate, maxBatchEntries)))
	tokens := 1.0
	last := time.Now()
	for {
		select {
		case <-t.cancel:
			t.finish(TaskCancelled, "")
			return
		default:
		}
		now := time.Now()
		tokens = min(tokens+float64(t.rate)*now.Sub(last).Seconds(), burst)
		last = now
		if tokens < 1 {
			wait := time.Duration((1 - tokens) / float64(t.rate) * float64(time.Second))
			select {
			case <-t.cancel:
			case <-time.After(wait):
			}
			continue
		}
		picks, err := t.source.take(min(int(tokens), maxBatchEntries))
		if err != nil {
			t.finish(TaskFailed, err.Error())
			return
		}
		if len(picks) == 0 {
			t.finish(TaskCompleted, "")
			return
		}
		tokens -= float64(len(picks))
		if reason := t.moveBatch(picks); reason != "" {
			t.finish(TaskFailed, reason)
			return
		}
	}
}

// moveBatch appends picks to their destinations and settles them in the
// source. It returns a failure reason, or "".
func (t *moveTask) moveBatch(picks []*pick) string {
	groups := map[*Queue][]*pick{}
	var order []*Queue
	reason := ""
	var failed []*pick
	for _, p := range picks {
		dq := t.dest
		if dq == nil {
			if p.msg.dlqSource == "" {
				reason = "A message has no recorded source queue; give a DestinationArn to move it."
			} else if dq = t.m.Get(p.msg.dlqSource); dq == nil {
				reason = fmt.Sprintf("The source queue %s of a message no longer exists.", p.msg.dlqSource)
			}
		}
		if dq == nil || dq == t.source || dq.IsFIFO() != t.source.IsFIFO() {
			if reason == "" {
				reason = "A message's source queue cannot receive it."
			}
			failed = append(failed, p)
			continue
		}
		if _, ok := groups[dq]; !ok {
			order = append(order, dq)
		}
		groups[dq] = append(groups[dq], p)
	}
	nowMs := t.m.cfg.Now().UnixMilli()
	for _, dq := range order {
		ps := groups[dq]
		if reason != "" {
			failed = append(failed, ps...)
			continue
		}
		msgs := make([]storedMessage, len(ps))
		for i, p := range ps {
			msgs[i] = p.msg
			msgs[i].dlqSource, msgs[i].seq, msgs[i].copy, msgs[i].visibleAt = "", "", false, nowMs
		}
		err := dq.appendMoved(msgs)
		n, pos := t.source.settleMoves(ps, err == nil)
		if err != nil {
			reason = fmt.Sprintf("Moving to %s failed: %v", dq.name, err)
			continue
		}
		if pos > 0 {
			if err := t.source.waitJournal(pos); err != nil {
				reason = err.Error()
			}
		}
		t.mu.Lock()
		t.moved += int64(n)
		t.mu.Unlock()
	}
	if len(failed) > 0 {
		t.source.settleMoves(failed, false)
	}
	return reason
}

// ListMoveTasks lists the most recent move tasks of a source queue (max 1
// to 10, default 1), newest first.
func (m *Manager) ListMoveTasks(sourceARN string, max int) ([]MoveTask, error) {
	name, ok := arnQueueName(m, sourceARN)
	if !ok || m.Get(name) == nil {
		return nil, notFound("SourceArn")
	}
	if max == 0 {
		max = 1
	}
	if max < 1 || max > 10 {
		return nil, errorf(CodeInvalidParameterValue, "Value %d for parameter MaxResults is invalid. Reason: must be between 1 and 10.", max)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []MoveTask
	for i := len(m.tasks) - 1; i >= 0 && len(out) < max; i-- {
		t := m.tasks[i]
		if t.sourceARN != sourceARN {
			continue
		}
		t.mu.Lock()
		mt := MoveTask{
			Status: t.status, SourceARN: t.sourceARN, DestinationARN: t.destARN, MaxPerSecond: t.given,
			Moved: t.moved, ToMove: t.toMove, StartedTimestamp: t.started, FailureReason: t.failure,
		}
		if t.status == TaskRunning {
			mt.TaskHandle = t.handle
		}
		t.mu.Unlock()
		out = append(out, mt)
	}
	return out, nil
}

// CancelMoveTask cancels a running task and returns how many messages it
// had moved.
func (m *Manager) CancelMoveTask(taskHandle string) (int64, error) {
	m.mu.Lock()
	var t *moveTask
	for _, o := range m.tasks {
		if o.handle == taskHandle {
			t = o
		}
	}
	m.mu.Unlock()
	if t == nil {
		return 0, notFound("TaskHandle")
	}
	if t.getStatus() != TaskRunning {
		return 0, errorf(CodeInvalidParameterValue, "Only a running task can be cancelled; this one is %s.", t.getStatus())
	}
	t.cancelAndWait()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.moved, nil
}
