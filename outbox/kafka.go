package outbox

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaConfig configures a KafkaPublisher. Set Client or Brokers.
type KafkaConfig struct {
	// Client is an existing franz-go client to produce with; the
	// publisher does not close it. Its producer settings are the caller's
	// (franz-go's defaults are acks=all and idempotent writes).
	Client *kgo.Client
	// Brokers are the seed addresses of a client the publisher makes and
	// owns: acks=all, idempotent writes, franz-go's other defaults.
	Brokers []string
	// Options are extra options for that client (TLS, SASL, …).
	Options []kgo.Opt
}

// KafkaPublisher publishes outbox rows as Kafka records: the Destination
// is the topic, Key and Body the record key and value, Attributes and
// IDAttribute the headers (sorted by name). Publish returns once every
// record is acknowledged (ProduceSync), with acks=all.
type KafkaPublisher struct {
	cl   *kgo.Client
	owns bool
}

// NewKafkaPublisher makes a publisher.
func NewKafkaPublisher(cfg KafkaConfig) (*KafkaPublisher, error) {
	if cfg.Client != nil {
		if len(cfg.Brokers) > 0 || len(cfg.Options) > 0 {
			return nil, &ConfigError{Field: "KafkaConfig.Client", Reason: "set either Client or Brokers/Options"}
		}
		return &KafkaPublisher{cl: cfg.Client}, nil
	}
	if len(cfg.Brokers) == 0 {
		return nil, &ConfigError{Field: "KafkaConfig.Brokers", Reason: "required without Client"}
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, stated: the outbox promises durability
	}, cfg.Options...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, &ConfigError{Field: "KafkaConfig.Options", Reason: err.Error()}
	}
	return &KafkaPublisher{cl: cl, owns: true}, nil
}

// Publish produces msgs and waits for their acknowledgements. Records that
// failed are reported by index in a *PublishError.
func (p *KafkaPublisher) Publish(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	recs := make([]kgo.Record, len(msgs)) // one allocation for the batch
	ptrs := make([]*kgo.Record, len(msgs))
	index := make(map[*kgo.Record]int, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		r := &recs[i]
		r.Topic, r.Key, r.Value = m.Destination, m.Key, m.Body
		r.Headers = make([]kgo.RecordHeader, 0, len(m.Attributes)+1)
		for k, v := range m.Attributes {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		slices.SortFunc(r.Headers, func(a, b kgo.RecordHeader) int { return cmp.Compare(a.Key, b.Key) })
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: IDAttribute, Value: []byte(m.ID)})
		ptrs[i] = r
		index[r] = i
	}
	results := p.cl.ProduceSync(ctx, ptrs...)
	var failed map[int]error
	for _, res := range results {
		if res.Err == nil {
			continue
		}
		if failed == nil {
			failed = make(map[int]error)
		}
		if i, ok := index[res.Record]; ok {
			failed[i] = res.Err
		}
	}
	if failed == nil {
		return nil
	}
	if len(failed) == len(msgs) && ctx.Err() != nil {
		return errors.Join(ctx.Err(), results.FirstErr())
	}
	return &PublishError{Failed: failed}
}

// Client is the franz-go client the publisher produces with.
func (p *KafkaPublisher) Client() *kgo.Client { return p.cl }

// Close closes the client if the publisher made it.
func (p *KafkaPublisher) Close() {
	if p.owns {
		p.cl.Close()
	}
}
