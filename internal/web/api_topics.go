package web

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-mq/sluice/internal/group"
	"github.com/sluice-mq/sluice/internal/topic"
)

type topicJSON struct {
	Name                 string  `json:"name"`
	Partitions           int32   `json:"partitions"`
	StartOffsetSum       int64   `json:"start_offset_sum"`
	EndOffsetSum         int64   `json:"end_offset_sum"`
	Records              int64   `json:"records"`
	Bytes                int64   `json:"bytes"`
	ProduceRate          float64 `json:"produce_rate"`
	FetchRate            float64 `json:"fetch_rate"`
	ProducedRecordsTotal int64   `json:"produced_records_total"`
	ProducedBytesTotal   int64   `json:"produced_bytes_total"`
	FetchedRecordsTotal  int64   `json:"fetched_records_total"`
	FetchedBytesTotal    int64   `json:"fetched_bytes_total"`
}

type partitionJSON struct {
	Partition int32 `json:"partition"`
	Start     int64 `json:"start"`
	End       int64 `json:"end"`
	Bytes     int64 `json:"bytes"`
}

type configJSON struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	ReadOnly  bool   `json:"read_only"`
	Sensitive bool   `json:"sensitive"`
}

type groupLagJSON struct {
	Group string `json:"group"`
	Lag   int64  `json:"lag"`
}

type topicDetailJSON struct {
	topicJSON
	ID         string          `json:"id"`
	CreatedMs  int64           `json:"created_ms"`
	Configs    []configJSON    `json:"configs"`
	Partitions []partitionJSON `json:"partitions"` // shadows topicJSON.Partitions
	Groups     []groupLagJSON  `json:"groups"`
}

// summarizeTopic reads a topic's offsets and sizes and its traffic
// counters; rates come from the history (last minute).
func (s *Server) summarizeTopic(t *topic.Topic, now time.Time) (topicJSON, []partitionJSON) {
	tj := topicJSON{Name: t.Name(), Partitions: t.NumPartitions()}
	parts := make([]partitionJSON, 0, tj.Partitions)
	for p := range tj.Partitions {
		l := t.Partition(p)
		if l == nil {
			continue
		}
		pj := partitionJSON{Partition: p, Start: l.StartOffset(), End: l.HighWatermark(), Bytes: l.Size()}
		parts = append(parts, pj)
		tj.StartOffsetSum += pj.Start
		tj.EndOffsetSum += pj.End
		tj.Bytes += pj.Bytes
	}
	tj.Records = max(tj.EndOffsetSum-tj.StartOffsetSum, 0)
	if s.cfg.Kafka != nil {
		tr := s.cfg.Kafka.Traffic(tj.Name)
		tj.ProducedRecordsTotal, tj.ProducedBytesTotal = tr.ProducedRecords, tr.ProducedBytes
		tj.FetchedRecordsTotal, tj.FetchedBytesTotal = tr.FetchedRecords, tr.FetchedBytes
	}
	tj.ProduceRate = s.hist.rate(counterKey("topic", tj.Name, "end"), float64(tj.EndOffsetSum), now)
	tj.FetchRate = s.hist.rate(counterKey("topic", tj.Name, "fetched"), float64(tj.FetchedRecordsTotal), now)
	return tj, parts
}

func (s *Server) topicSummaries(now time.Time) []topicJSON {
	out := []topicJSON{}
	if s.cfg.Topics == nil {
		return out
	}
	for _, t := range s.cfg.Topics.List() {
		tj, _ := s.summarizeTopic(t, now)
		out = append(out, tj)
	}
	return out
}

func (s *Server) apiTopics(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.topicSummaries(s.cfg.Now()))
}

func (s *Server) apiTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var t *topic.Topic
	if s.cfg.Topics != nil {
		t = s.cfg.Topics.Get(name)
	}
	if t == nil {
		s.fail(w, errNotFound("topic %q does not exist", name))
		return
	}
	tj, parts := s.summarizeTopic(t, s.cfg.Now())
	id := t.ID()
	d := topicDetailJSON{
		topicJSON: tj, Partitions: parts, CreatedMs: t.CreatedMs(),
		ID:      fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]),
		Configs: []configJSON{}, Groups: []groupLagJSON{},
	}
	for _, c := range t.Configs() {
		d.Configs = append(d.Configs, configJSON{Name: c.Key, Value: c.Value, Source: configSource(c.Source), ReadOnly: c.ReadOnly, Sensitive: c.Sensitive})
	}
	if s.cfg.Groups != nil {
		for _, g := range s.cfg.Groups.List() {
			lags, err := s.cfg.Groups.Lag(g.Group)
			if err != nil {
				continue
			}
			var sum int64
			found := false
			for _, l := range lags {
				if l.Topic == name && l.Committed >= 0 {
					found = true
					sum += max(l.Lag, 0)
				}
			}
			if found {
				d.Groups = append(d.Groups, groupLagJSON{Group: g.Group, Lag: sum})
			}
		}
	}
	writeJSON(w, http.StatusOK, d)
}

func configSource(src topic.ConfigSource) string {
	switch src {
	case topic.SourceTopic:
		return "topic"
	case topic.SourceBroker:
		return "broker"
	}
	return "default"
}

// ---- groups ----

type groupJSON struct {
	Group        string   `json:"group"`
	State        string   `json:"state"`
	ProtocolType string   `json:"protocol_type"`
	Protocol     string   `json:"protocol"`
	Members      int      `json:"members"`
	Topics       []string `json:"topics"`
	Lag          int64    `json:"lag"`
}

type memberJSON struct {
	ID          string           `json:"id"`
	InstanceID  *string          `json:"instance_id"`
	ClientID    string           `json:"client_id"`
	Host        string           `json:"host"`
	Assignments []assignmentJSON `json:"assignments"`
}

type assignmentJSON struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type offsetJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
}

type groupDetailJSON struct {
	Group        string       `json:"group"`
	State        string       `json:"state"`
	ProtocolType string       `json:"protocol_type"`
	Protocol     string       `json:"protocol"`
	Generation   int32        `json:"generation"`
	Leader       string       `json:"leader"`
	Lag          int64        `json:"lag"`
	Members      []memberJSON `json:"members"`
	Offsets      []offsetJSON `json:"offsets"`
}

// groupLag sums the known lags and lists the topics.
func groupLag(lags []group.PartitionLag) (int64, []string) {
	var sum int64
	topics := []string{}
	for _, l := range lags {
		if l.Lag > 0 {
			sum += l.Lag
		}
		topics = append(topics, l.Topic)
	}
	return sum, slices.Compact(topics) // lags are sorted by topic
}

func (s *Server) groupSummaries() []groupJSON {
	out := []groupJSON{}
	if s.cfg.Groups == nil {
		return out
	}
	for _, g := range s.cfg.Groups.List() {
		gj := groupJSON{Group: g.Group, State: g.State.String(), ProtocolType: g.ProtocolType, Topics: []string{}}
		if d, err := s.cfg.Groups.Describe(g.Group); err == nil {
			gj.Members, gj.Protocol = len(d.Members), d.Protocol
		}
		if lags, err := s.cfg.Groups.Lag(g.Group); err == nil {
			gj.Lag, gj.Topics = groupLag(lags)
		}
		out = append(out, gj)
	}
	return out
}

func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.groupSummaries())
}

func (s *Server) apiGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	known := false
	if s.cfg.Groups != nil {
		for _, g := range s.cfg.Groups.List() {
			if g.Group == id {
				known = true
				break
			}
		}
	}
	if !known {
		s.fail(w, errNotFound("consumer group %q does not exist", id))
		return
	}
	d, err := s.cfg.Groups.Describe(id)
	if err != nil {
		s.fail(w, err)
		return
	}
	lags, err := s.cfg.Groups.Lag(id)
	if err != nil {
		s.fail(w, err)
		return
	}
	gd := groupDetailJSON{
		Group: id, State: d.State.String(), ProtocolType: d.ProtocolType, Protocol: d.Protocol,
		Generation: d.Generation, Leader: d.Leader, Members: []memberJSON{}, Offsets: []offsetJSON{},
	}
	gd.Lag, _ = groupLag(lags)
	for _, m := range d.Members {
		mj := memberJSON{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignments: []assignmentJSON{}}
		if m.InstanceID != "" {
			iid := m.InstanceID
			mj.InstanceID = &iid
		}
		if d.ProtocolType == "consumer" && len(m.Assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if a.ReadFrom(m.Assignment) == nil {
				for _, t := range a.Topics {
					mj.Assignments = append(mj.Assignments, assignmentJSON{Topic: t.Topic, Partitions: slices.Clone(t.Partitions)})
				}
			}
		}
		gd.Members = append(gd.Members, mj)
	}
	for _, l := range lags {
		gd.Offsets = append(gd.Offsets, offsetJSON{Topic: l.Topic, Partition: l.Partition, Committed: l.Committed, End: l.End, Lag: l.Lag})
	}
	writeJSON(w, http.StatusOK, gd)
}
