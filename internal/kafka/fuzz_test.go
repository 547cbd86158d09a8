package kafka

// FuzzRequestFrame feeds arbitrary bytes to the request path: framing
// (size prefix and limit), header and body decoding, dispatch to the real
// handlers on a real registry, and response encoding. A panic anywhere is
// a failure; a frame that cannot be served must produce an error (the
// connection would close) or a response that encodes and decodes.
//
//	go test ./internal/kafka -run '^$' -fuzz FuzzRequestFrame -fuzztime 60s

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func seedRequests() []kmsg.Request {
	var out []kmsg.Request
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "franz-go", "1.22"
	out = append(out, av)
	for _, v := range []int16{0, 4, 9, 12} {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = v
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("fz")
		md.Topics = []kmsg.MetadataRequestTopic{rt}
		md.AllowAutoTopicCreation = true
		out = append(out, md)
	}
	for _, v := range []int16{3, 7, 9, 11} {
		out = append(out, produceReq(v, -1, "fz", 0, makeBatch(batchSpec{producerID: -1, records: 3, timestamp: 1700000000000})))
	}
	out = append(out, produceReq(9, 1, "fz", 0, makeBatch(batchSpec{producerID: 1, baseSequence: 0, records: 2, timestamp: 1700000000000})))
	for _, v := range []int16{4, 11, 12} {
		fr := kmsg.NewPtrFetchRequest()
		fr.Version = v
		fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes = 10, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "fz"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
		fr.Topics = []kmsg.FetchRequestTopic{rt}
		out = append(out, fr)
	}
	for _, v := range []int16{0, 1, 7, 8} {
		lo := kmsg.NewPtrListOffsetsRequest()
		lo.Version = v
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "fz"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		lo.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		out = append(out, lo)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 4
	out = append(out, ip)
	return out
}

func FuzzRequestFrame(f *testing.F) {
	b := newTestBroker(f, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	for i, req := range seedRequests() {
		f.Add(kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed")).AppendRequest(nil, req, int32(i)))
	}
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		local, remote := net.Pipe()
		defer local.Close()
		defer remote.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		c := &conn{srv: b.Server, nc: local, ctx: ctx, cancel: cancel}
		br := bufio.NewReader(bytes.NewReader(data))
		for range 4 { // a few pipelined frames
			frame, err := c.readFrame(br)
			if err != nil {
				return // EOF or a refused size: the connection closes
			}
			p, rc, h, req, err := c.parse(frame)
			if err != nil {
				return // invalid request: the connection closes
			}
			if h == nil {
				if len(p.raw) == 0 {
					t.Fatal("request answered on the spot without a body")
				}
				continue
			}
			resp, err := h.Handle(rc, req) // no recover: a panic fails the fuzz
			rc.release()
			if err != nil || resp == nil {
				p.runCleanup()
				continue
			}
			p.resp = resp
			out := appendResponse(nil, p)
			p.runCleanup()
			// The response must decode as what the client asked for.
			body := out[8:]
			if p.flex {
				body = body[1:]
			}
			back := req.ResponseKind()
			if err := back.ReadFrom(body); err != nil {
				t.Fatalf("%s v%d response does not decode: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
			}
		}
	})
}
