package kafka

// The group APIs at pinned versions over a raw connection: the old
// versions librdkafka, kafka-python and kafka-go send, KIP-394's
// MEMBER_ID_REQUIRED, batched FindCoordinator, multi-group OffsetFetch and
// the admin APIs.

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func rangeProtocol(topics ...string) []kmsg.JoinGroupRequestProtocol {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", m.AppendTo(nil)
	return []kmsg.JoinGroupRequestProtocol{p}
}

func joinV(version int16, groupID, memberID string, instanceID *string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = version
	req.Group, req.MemberID, req.InstanceID = groupID, memberID, instanceID
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
	req.ProtocolType = "consumer"
	req.Protocols = rangeProtocol("t")
	return req
}

func code(c int16) error { return kerr.ErrorForCode(c) }

// The versions old clients use, end to end: JoinGroup v0, SyncGroup v0,
// Heartbeat v0, OffsetCommit v2, OffsetFetch v1, LeaveGroup v0 and
// FindCoordinator v0.
func TestGroupOldVersionsRaw(t *testing.T) {
	t.Parallel()
	b, _ := newGroupBroker(t)
	createTopic(t, b, "t", 2, nil)
	rc := dialRaw(t, b.Addr)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorKey = 0, "old"
	fr := rc.roundTrip(fc).(*kmsg.FindCoordinatorResponse)
	host, port := splitHostPort(rc.c.RemoteAddr())
	if fr.ErrorCode != 0 || fr.NodeID != 0 || fr.Host != host || fr.Port != port {
		t.Fatalf("FindCoordinator v0: %+v", fr)
	}

	jr := rc.roundTrip(joinV(0, "old", "", nil)).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.MemberID == "" || jr.Generation != 1 || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 || jr.Protocol == nil || *jr.Protocol != "range" {
		t.Fatalf("JoinGroup v0 (no MEMBER_ID_REQUIRED before v4): %v %+v", code(jr.ErrorCode), jr)
	}
	me := jr.MemberID

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Version, sync.Group, sync.Generation, sync.MemberID = 0, "old", 1, me
	a := kmsg.NewSyncGroupRequestGroupAssignment()
	a.MemberID, a.MemberAssignment = me, []byte("assignment")
	sync.GroupAssignment = append(sync.GroupAssignment, a)
	sr := rc.roundTrip(sync).(*kmsg.SyncGroupResponse)
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "assignment" {
		t.Fatalf("SyncGroup v0: %v %q", code(sr.ErrorCode), sr.MemberAssignment)
	}

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.Generation, hb.MemberID = 0, "old", 1, me
	if r := rc.roundTrip(hb).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
		t.Fatalf("Heartbeat v0: %v", code(r.ErrorCode))
	}
	hb.Generation = 7
	if r := rc.roundTrip(hb).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.IllegalGeneration.Code {
		t.Fatalf("Heartbeat v0 with a wrong generation: %v", code(r.ErrorCode))
	}

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version, oc.Group, oc.Generation, oc.MemberID, oc.RetentionTimeMillis = 2, "old", 1, me, -1
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "t"
	for p, off := range []int64{11, 22} {
		op := kmsg.NewOffsetCommitRequestTopicPartition()
		op.Partition, op.Offset, op.Metadata = int32(p), off, kmsg.StringPtr("md")
		ot.Partitions = append(ot.Partitions, op)
	}
	missing := kmsg.NewOffsetCommitRequestTopic()
	missing.Topic = "no-such-topic"
	missing.Partitions = append(missing.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
	oc.Topics = append(oc.Topics, ot, missing)
	ocr := rc.roundTrip(oc).(*kmsg.OffsetCommitResponse)
	if len(ocr.Topics) != 2 || ocr.Topics[0].Partitions[0].ErrorCode != 0 || ocr.Topics[0].Partitions[1].ErrorCode != 0 ||
		ocr.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("OffsetCommit v2: %+v", ocr)
	}

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version, of.Group = 1, "old"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "t", []int32{0, 1}
	of.Topics = append(of.Topics, ft)
	ofr := rc.roundTrip(of).(*kmsg.OffsetFetchResponse)
	if len(ofr.Topics) != 1 || len(ofr.Topics[0].Partitions) != 2 || ofr.Topics[0].Partitions[0].Offset != 11 ||
		ofr.Topics[0].Partitions[1].Offset != 22 || *ofr.Topics[0].Partitions[1].Metadata != "md" {
		t.Fatalf("OffsetFetch v1: %+v", ofr)
	}

	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version, lv.Group, lv.MemberID = 0, "old", me
	if r := rc.roundTrip(lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 {
		t.Fatalf("LeaveGroup v0: %v", code(r.ErrorCode))
	}
	if r := rc.roundTrip(lv).(*kmsg.LeaveGroupResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("LeaveGroup v0 twice: %v", code(r.ErrorCode))
	}
	// Group-level errors go on each partition of OffsetFetch v1.
	of.Group = ""
	if r := rc.roundTrip(of).(*kmsg.OffsetFetchResponse); r.Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("OffsetFetch v1 of the empty group id: %+v", r)
	}
}

// KIP-394: a first JoinGroup v4+ without member id is answered
// MEMBER_ID_REQUIRED with the id to use; static members skip the step.
func TestGroupMemberIDRequiredRaw(t *testing.T) {
	t.Parallel()
	b, _ := newGroupBroker(t)
	rc := dialRaw(t, b.Addr)
	for _, v := range []int16{4, 5, 6, 7, 8, 9} {
		g := "mir-" + string(rune('0'+v))
		jr := rc.roundTrip(joinV(v, g, "", nil)).(*kmsg.JoinGroupResponse)
		if jr.ErrorCode != kerr.MemberIDRequired.Code || jr.MemberID == "" || jr.Generation != -1 {
			t.Fatalf("v%d first join: %v %+v", v, code(jr.ErrorCode), jr)
		}
		jr2 := rc.roundTrip(joinV(v, g, jr.MemberID, nil)).(*kmsg.JoinGroupResponse)
		if jr2.ErrorCode != 0 || jr2.MemberID != jr.MemberID || jr2.Generation != 1 || jr2.LeaderID != jr.MemberID {
			t.Fatalf("v%d second join: %v %+v", v, code(jr2.ErrorCode), jr2)
		}
		if v >= 7 && (jr2.ProtocolType == nil || *jr2.ProtocolType != "consumer") {
			t.Fatalf("v%d: protocol type %v", v, jr2.ProtocolType)
		}
	}
	// Before v4 (kafka-go sends v1/v2) the first join is accepted at once.
	for _, v := range []int16{0, 1, 2, 3} {
		g := "old-" + string(rune('0'+v))
		jr := rc.roundTrip(joinV(v, g, "", nil)).(*kmsg.JoinGroupResponse)
		if jr.ErrorCode != 0 || jr.MemberID == "" || jr.Generation != 1 || jr.LeaderID != jr.MemberID {
			t.Fatalf("v%d first join: %v %+v", v, code(jr.ErrorCode), jr)
		}
	}
	inst := "static-raw"
	jr := rc.roundTrip(joinV(5, "static", "", &inst)).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.Generation != 1 || len(jr.Members) != 1 || jr.Members[0].InstanceID == nil || *jr.Members[0].InstanceID != inst {
		t.Fatalf("static join v5: %v %+v", code(jr.ErrorCode), jr)
	}
	// A known instance id with another member id is fenced.
	jr = rc.roundTrip(joinV(5, "static", "someone-else", &inst)).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != kerr.FencedInstanceID.Code {
		t.Fatalf("fenced join: %v", code(jr.ErrorCode))
	}
	// Session timeout bounds and the empty group id.
	bad := joinV(4, "g", "", nil)
	bad.SessionTimeoutMillis = 10
	if r := rc.roundTrip(bad).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("session 10ms: %v", code(r.ErrorCode))
	}
	if r := rc.roundTrip(joinV(4, "", "", nil)).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group: %v", code(r.ErrorCode))
	}
}

func TestGroupFindCoordinatorRaw(t *testing.T) {
	t.Parallel()
	b, _ := newGroupBroker(t)
	rc := dialRaw(t, b.Addr)
	host, port := splitHostPort(rc.c.RemoteAddr())
	for v := int16(1); v <= 3; v++ {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKey = v, "g"
		if r := rc.roundTrip(req).(*kmsg.FindCoordinatorResponse); r.ErrorCode != 0 || r.Host != host || r.Port != port {
			t.Fatalf("v%d: %+v", v, r)
		}
		req.CoordinatorType = 1
		if r := rc.roundTrip(req).(*kmsg.FindCoordinatorResponse); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code || r.ErrorMessage == nil || r.NodeID != -1 {
			t.Fatalf("v%d transactional: %+v", v, r)
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorKeys = 4, []string{"a", "b", "c"}
	r := rc.roundTrip(req).(*kmsg.FindCoordinatorResponse)
	if len(r.Coordinators) != 3 || r.Coordinators[2].Key != "c" || r.Coordinators[1].Host != host || r.Coordinators[0].Port != port || r.Coordinators[0].ErrorCode != 0 {
		t.Fatalf("v4 batch: %+v", r)
	}
	req.CoordinatorType = 2
	if r := rc.roundTrip(req).(*kmsg.FindCoordinatorResponse); r.Coordinators[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("v4 share key type: %+v", r)
	}
}

// OffsetFetch v8 fetches several groups at once, and v2+ null topics
// fetch all of a group's offsets.
func TestGroupOffsetFetchMultiRaw(t *testing.T) {
	t.Parallel()
	b, _ := newGroupBroker(t)
	createTopic(t, b, "t", 3, nil)
	adm := b.admin(t)
	ctx := context.Background()
	for i, g := range []string{"a", "b"} {
		offs := kadm.Offsets{}
		offs.AddOffset("t", 0, int64(10*(i+1)), -1)
		offs.AddOffset("t", 2, int64(10*(i+1)+2), -1)
		if r, err := adm.CommitOffsets(ctx, g, offs); err != nil || r.Error() != nil {
			t.Fatalf("commit: %v %v", err, r.Error())
		}
	}
	rc := dialRaw(t, b.Addr)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	for _, g := range []string{"a", "b", "none"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g // null topics: all
		req.Groups = append(req.Groups, rg)
	}
	r := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
	if len(r.Groups) != 3 || len(r.Groups[0].Topics) != 1 || len(r.Groups[0].Topics[0].Partitions) != 2 ||
		r.Groups[1].Topics[0].Partitions[1].Offset != 22 || len(r.Groups[2].Topics) != 0 {
		t.Fatalf("OffsetFetch v8: %+v", r)
	}
	for _, v := range []int16{2, 5, 7} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group = v, "a"
		r := rc.roundTrip(req).(*kmsg.OffsetFetchResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || r.Topics[0].Partitions[1].Offset != 12 {
			t.Fatalf("OffsetFetch v%d all: %+v", v, r)
		}
	}
	// kadm (newest versions) agrees.
	fetched, err := adm.FetchOffsets(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("t", 2); !ok || o.At != 22 {
		t.Fatalf("kadm fetch: %+v", fetched)
	}
}

// DescribeGroups, ListGroups (with a states filter), OffsetDelete and
// DeleteGroups, through kadm and raw.
func TestGroupAdminAPIs(t *testing.T) {
	t.Parallel()
	b, coord := newGroupBroker(t)
	createTopic(t, b, "adm", 2, nil)
	createTopic(t, b, "other", 1, nil)
	ctx := context.Background()
	adm := b.admin(t)
	cl := groupConsumer(t, b, "live", "adm")
	waitBalanced(t, coord, "live", "adm", 1, 2)
	offs := kadm.Offsets{}
	offs.AddOffset("adm", 0, 5, -1)
	offs.AddOffset("other", 0, 7, -1)
	if _, err := adm.CommitOffsets(ctx, "idle", offs); err != nil {
		t.Fatal(err)
	}

	dg, err := adm.DescribeGroups(ctx, "live", "idle", "nosuch")
	if err != nil {
		t.Fatal(err)
	}
	live := dg["live"]
	if live.State != "Stable" || live.Protocol != "cooperative-sticky" || live.ProtocolType != "consumer" || len(live.Members) != 1 ||
		live.Members[0].ClientHost != "/127.0.0.1" || live.Members[0].ClientID != "kgo" {
		t.Fatalf("describe live: %+v", live)
	}
	if ma, ok := live.Members[0].Assigned.AsConsumer(); !ok || len(ma.Topics) != 1 || len(ma.Topics[0].Partitions) != 2 {
		t.Fatalf("live member assignment: %+v", live.Members[0].Assigned)
	}
	if dg["idle"].State != "Empty" || dg["nosuch"].State != "Dead" || dg["nosuch"].Err != nil {
		t.Fatalf("describe idle/nosuch: %+v / %+v", dg["idle"], dg["nosuch"])
	}

	lg, err := adm.ListGroups(ctx)
	if err != nil || len(lg) != 2 || lg["live"].State != "Stable" || lg["idle"].ProtocolType != "" {
		t.Fatalf("list: %+v %v", lg, err)
	}
	lg, err = adm.ListGroups(ctx, "Empty")
	if err != nil || len(lg) != 1 || lg["idle"].Group != "idle" {
		t.Fatalf("list Empty: %+v %v", lg, err)
	}
	rc := dialRaw(t, b.Addr)
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = v
		if r := rc.roundTrip(req).(*kmsg.ListGroupsResponse); r.ErrorCode != 0 || len(r.Groups) != 2 {
			t.Fatalf("ListGroups v%d: %+v", v, r)
		}
	}
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.Version, lreq.TypesFilter = 5, []string{"consumer"}
	if r := rc.roundTrip(lreq).(*kmsg.ListGroupsResponse); len(r.Groups) != 0 {
		t.Fatalf("ListGroups v5 consumer type: %+v", r)
	}
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version, req.Groups, req.IncludeAuthorizedOperations = v, []string{"live"}, true
		r := rc.roundTrip(req).(*kmsg.DescribeGroupsResponse)
		if len(r.Groups) != 1 || r.Groups[0].State != "Stable" || len(r.Groups[0].Members) != 1 || v >= 3 && r.Groups[0].AuthorizedOperations != groupOperations {
			t.Fatalf("DescribeGroups v%d: %+v", v, r)
		}
	}

	// OffsetDelete: a topic the live group consumes is refused.
	ds, err := adm.DeleteOffsets(ctx, "idle", kadm.TopicsSet{"adm": {0: {}}, "other": {0: {}}})
	if err != nil || ds.Error() != nil {
		t.Fatalf("delete idle offsets: %v %v", err, ds.Error())
	}
	if f, _ := adm.FetchOffsets(ctx, "idle"); len(f) != 0 {
		t.Fatalf("offsets left: %+v", f)
	}
	odr := kmsg.NewPtrOffsetDeleteRequest()
	odr.Group = "live"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = "adm"
	odt.Partitions = append(odt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: 0})
	ghost := kmsg.NewOffsetDeleteRequestTopic()
	ghost.Topic = "ghost"
	ghost.Partitions = append(ghost.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: 0})
	odr.Topics = append(odr.Topics, odt, ghost)
	odresp := rc.roundTrip(odr).(*kmsg.OffsetDeleteResponse)
	if odresp.ErrorCode != 0 || odresp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code ||
		odresp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("OffsetDelete on a live group: %+v", odresp)
	}
	odr.Group = "nosuch"
	if r := rc.roundTrip(odr).(*kmsg.OffsetDeleteResponse); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("OffsetDelete unknown group: %v", code(r.ErrorCode))
	}

	// DeleteGroups: the live one refuses until its member leaves.
	dr, err := adm.DeleteGroups(ctx, "live", "nosuch")
	if err != nil || dr["live"].Err != kerr.NonEmptyGroup || dr["nosuch"].Err != kerr.GroupIDNotFound {
		t.Fatalf("delete groups: %+v %v", dr, err)
	}
	cl.Close() // leaves the group
	deadline := time.Now().Add(10 * time.Second)
	for {
		dr, err = adm.DeleteGroups(ctx, "live")
		if err == nil && dr["live"].Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete after leave: %+v %v", dr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lg, _ := adm.ListGroups(ctx); len(lg) != 0 {
		t.Fatalf("groups left: %+v", lg)
	}
}
