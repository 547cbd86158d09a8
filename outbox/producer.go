package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-mq/sluice"
)

// ProducerPublisher publishes through Sluice SDK producers
// (sluice.NewKafkaProducer, sluice.NewSQSProducer), one per destination,
// so that the relay gets their batching, compression and depth-based
// throttling. Each message goes out with PublishSync: IDAttribute is added
// to its attributes and its ID is the DeduplicationID (SQS FIFO). The
// producers stay the caller's to close.
type ProducerPublisher struct {
	// Producers maps a Message.Destination to the producer for it. A
	// message whose destination has no producer fails (and is retried).
	Producers map[string]*sluice.Producer
}

// Publish sends msgs through their destinations' producers.
func (p ProducerPublisher) Publish(ctx context.Context, msgs []Message) error {
	failed := make(map[int]error)
	var dests []string
	byDest := make(map[string][]int)
	for i := range msgs {
		d := msgs[i].Destination
		if _, ok := byDest[d]; !ok {
			dests = append(dests, d)
		}
		byDest[d] = append(byDest[d], i)
	}
	for _, d := range dests {
		idx := byDest[d]
		prod := p.Producers[d]
		if prod == nil {
			for _, i := range idx {
				failed[i] = fmt.Errorf("outbox: no producer for destination %q", d)
			}
			continue
		}
		out := make([]sluice.Message, len(idx))
		for n, i := range idx {
			m := &msgs[i]
			attrs := make(map[string]string, len(m.Attributes)+1)
			for k, v := range m.Attributes {
				attrs[k] = v
			}
			attrs[IDAttribute] = m.ID
			out[n] = sluice.Message{Body: m.Body, Key: m.Key, Attributes: attrs, DeduplicationID: m.ID}
		}
		err := prod.PublishSync(ctx, out...)
		if err == nil {
			continue
		}
		var pe *sluice.PublishError
		if errors.As(err, &pe) && len(pe.Errors) == len(idx) {
			for n, e := range pe.Errors {
				if e != nil {
					failed[idx[n]] = e
				}
			}
			continue
		}
		for _, i := range idx {
			failed[i] = err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &PublishError{Failed: failed}
}
