package kafka

// FuzzGroupRequestFrame is FuzzRequestFrame (fuzz_test.go) seeded with the
// consumer-group APIs at the versions clients send, so that the fuzzer
// starts from requests the group handlers accept: no panic, and every
// response must decode as the version asked for.
//
//	go test ./internal/kafka -run '^$' -fuzz FuzzGroupRequestFrame -fuzztime 60s

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func groupSeedRequests() []kmsg.Request {
	var out []kmsg.Request
	inst := "inst"
	for _, v := range []int16{0, 1, 4, 5, 9} {
		out = append(out, joinV(v, "fz", "", nil))
	}
	out = append(out, joinV(5, "fz", "", &inst))
	for _, v := range []int16{0, 3, 5} {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version, r.Group, r.Generation, r.MemberID = v, "fz", 1, "m"
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = "m", []byte{0, 1}
		r.GroupAssignment = append(r.GroupAssignment, a)
		out = append(out, r)
	}
	for _, v := range []int16{0, 4} {
		r := kmsg.NewPtrHeartbeatRequest()
		r.Version, r.Group, r.Generation, r.MemberID = v, "fz", 1, "m"
		out = append(out, r)
	}
	for _, v := range []int16{0, 3, 5} {
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Version, r.Group, r.MemberID = v, "fz", "m"
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = "m"
		r.Members = append(r.Members, m)
		out = append(out, r)
	}
	for _, v := range []int16{0, 2, 8, 9} {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Version, r.Group, r.Generation = v, "fz", -1
		t := kmsg.NewOffsetCommitRequestTopic()
		t.Topic = "fz"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Offset, p.Metadata = 3, kmsg.StringPtr("m")
		t.Partitions = append(t.Partitions, p)
		r.Topics = append(r.Topics, t)
		out = append(out, r)
	}
	for _, v := range []int16{1, 2, 7, 8} {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version, r.Group = v, "fz"
		t := kmsg.NewOffsetFetchRequestTopic()
		t.Topic, t.Partitions = "fz", []int32{0}
		r.Topics = append(r.Topics, t)
		g := kmsg.NewOffsetFetchRequestGroup()
		g.Group = "fz"
		r.Groups = append(r.Groups, g)
		out = append(out, r)
	}
	for _, v := range []int16{0, 4} {
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.Version, r.CoordinatorKey, r.CoordinatorKeys = v, "fz", []string{"fz", "x"}
		out = append(out, r)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups = 5, []string{"fz", ""}
	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version, lg.StatesFilter, lg.TypesFilter = 5, []string{"Stable"}, []string{"classic"}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version, del.Groups = 2, []string{"fz"}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "fz"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = "fz"
	odt.Partitions = append(odt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: 0})
	od.Topics = append(od.Topics, odt)
	return append(out, dg, lg, del, od)
}

func FuzzGroupRequestFrame(f *testing.F) {
	b, _ := newGroupBroker(f, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
	createTopic(f, b, "fz", 1, nil)
	for i, req := range groupSeedRequests() {
		f.Add(kmsg.NewRequestFormatter(kmsg.FormatterClientID("seed")).AppendRequest(nil, req, int32(i)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		local, remote := net.Pipe()
		defer local.Close()
		defer remote.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		c := &conn{srv: b.Server, nc: local, ctx: ctx, cancel: cancel}
		br := bufio.NewReader(bytes.NewReader(data))
		for range 4 {
			frame, err := c.readFrame(br)
			if err != nil {
				return
			}
			p, rc, h, req, err := c.parse(frame)
			if err != nil || h == nil {
				return
			}
			resp, err := h.Handle(rc, req)
			rc.release()
			if err != nil || resp == nil {
				p.runCleanup()
				continue
			}
			p.resp = resp
			out := appendResponse(nil, p)
			p.runCleanup()
			body := out[8:]
			if p.flex {
				body = body[1:]
			}
			if err := req.ResponseKind().ReadFrom(body); err != nil {
				t.Fatalf("%s v%d response does not decode: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
			}
		}
	})
}
