package sluice

// Commits and rebalances of the Kafka source (see source_kafka.go): the
// periodic committer, the commit of each partition's finished prefix, and
// the revoke and lost callbacks franz-go calls from its group goroutine.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committer commits finished offsets every CommitInterval until Close.
func (s *kafkaSource) committer() {
	defer close(s.committerDone)
	// Cancelled by Close, so that Close never waits out a slow commit.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	go func() {
		<-s.stop
		cancelBase()
	}()
	tick := time.NewTicker(s.cfg.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(base, max(10*time.Second, s.cfg.CommitInterval))
		if err := s.commit(ctx, nil); err != nil && base.Err() == nil {
			s.logger.Warn("sluice: kafka commit failed; retrying next interval", "err", err)
		}
		cancel()
	}
}

// commit commits the finished prefix of the given partitions (all tracked
// partitions when only is nil) where it advanced.
func (s *kafkaSource) commit(ctx context.Context, only map[string][]int32) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.commitLocked(ctx, only)
}

func (s *kafkaSource) commitLocked(ctx context.Context, only map[string][]int32) error {
	type pending struct {
		t      *partitionTracker
		offset int64
	}
	var todo []pending
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	s.mu.Lock()
	add := func(t *partitionTracker) {
		if t == nil || t.revoked {
			return
		}
		off, ok := t.pendingCommit()
		if !ok {
			return
		}
		epoch := int32(-1) // unknown unless committing right after the last fetched record
		if off == t.next {
			epoch = t.nextEpoch
		}
		if offsets[t.topic] == nil {
			offsets[t.topic] = make(map[int32]kgo.EpochOffset)
		}
		offsets[t.topic][t.partition] = kgo.EpochOffset{Epoch: epoch, Offset: off}
		todo = append(todo, pending{t, off})
	}
	if only == nil {
		for _, t := range s.trackers {
			add(t)
		}
	} else {
		for topic, ps := range only {
			for _, p := range ps {
				add(s.trackers[topicPartition{topic, p}])
			}
		}
	}
	s.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	var cerr error
	failed := make(map[topicPartition]bool)
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					failed[topicPartition{t.Topic, p.Partition}] = true
					if cerr == nil {
						cerr = fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err)
					}
				}
			}
		}
	})
	if cerr != nil && len(failed) == 0 {
		return fmt.Errorf("sluice: kafka commit: %w", cerr)
	}
	s.mu.Lock()
	s.stats.commits++
	for _, p := range todo {
		if !failed[topicPartition{p.t.topic, p.t.partition}] && p.offset > p.t.committed {
			p.t.committed = p.offset
		}
	}
	s.mu.Unlock()
	if cerr != nil {
		return fmt.Errorf("sluice: kafka commit: %w", cerr)
	}
	return nil
}

// onRevoked runs in franz-go's group goroutine when partitions leave this
// member (a cooperative rebalance moving them, an eager rebalance, leaving
// the group). It waits up to RevokeTimeout for their in-flight records,
// commits the finished prefix, and forgets the partitions.
func (s *kafkaSource) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	s.mu.Lock()
	for _, ps := range revoked {
		s.stats.revoked += int64(len(ps))
	}
	wait := !s.closing
	var drains []chan struct{}
	for topic, ps := range revoked {
		for _, p := range ps {
			t := s.trackers[topicPartition{topic, p}]
			if t == nil || t.unfinished == 0 || !wait {
				continue
			}
			if t.drained == nil {
				t.drained = make(chan struct{})
			}
			drains = append(drains, t.drained)
		}
	}
	s.mu.Unlock()
	if len(drains) > 0 {
		timer := time.NewTimer(s.cfg.RevokeTimeout)
	waiting:
		for _, ch := range drains {
			select {
			case <-ch:
			case <-timer.C:
				break waiting
			case <-ctx.Done():
				break waiting
			case <-s.stop:
				break waiting
			}
		}
		timer.Stop()
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := s.commit(cctx, revoked)
	cancel()
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	// While closing, Close has just committed and reports its own errors;
	// a static member's final revoke runs on the client's ended context.
	if err != nil && !closing {
		s.logger.Warn("sluice: kafka commit on revoke failed; the new owner re-reads past the last commit", "err", err)
	}
	s.forget(revoked, false)
}

// onLost runs when the member was fenced: its partitions already belong to
// someone else, so nothing is committed; in-flight records are forgotten.
func (s *kafkaSource) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	for _, ps := range lost {
		s.stats.lost += int64(len(ps))
	}
	s.mu.Unlock()
	s.forget(lost, true)
}

// forget drops the trackers of partitions leaving this member. Their
// unfinished records are counted as dropped: their acks will be ignored.
func (s *kafkaSource) forget(parts map[string][]int32, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			key := topicPartition{topic, p}
			t := s.trackers[key]
			if t == nil {
				continue
			}
			delete(s.trackers, key)
			t.revoked = true
			if t.drained != nil {
				close(t.drained)
				t.drained = nil
			}
			if t.unfinished > 0 {
				s.stats.dropped += int64(t.unfinished)
				s.logger.Info("sluice: partition left with records in flight; they will be read again by its next owner",
					"topic", topic, "partition", p, "in_flight", t.unfinished, "lost", lost)
			}
		}
	}
}
