package broker

import (
	"strconv"
	"time"

	"github.com/sluice-mq/sluice/internal/group"
)

// groupSettings maps the consumer-group settings (Kafka's names) onto the
// group coordinator's Config; settings not given keep Kafka's defaults
// (group.Config's zero values). Values were range-checked by settingDefs;
// only combinations are checked here.
func groupSettings(vals map[string]string) (group.Config, error) {
	var g group.Config
	ms := func(name string) (time.Duration, bool) {
		v, ok := vals[name]
		return time.Duration(atoi(v)) * time.Millisecond, ok
	}
	if d, ok := ms("group.initial.rebalance.delay.ms"); ok {
		g.InitialRebalanceDelay = d
		if d == 0 {
			g.InitialRebalanceDelay = -1 // none; the zero value means the default
		}
	}
	if d, ok := ms("group.min.session.timeout.ms"); ok {
		g.MinSessionTimeout = d
	}
	if d, ok := ms("group.max.session.timeout.ms"); ok {
		g.MaxSessionTimeout = d
	}
	if v, ok := vals["group.max.size"]; ok {
		g.MaxGroupSize = int(atoi(v))
	}
	if v, ok := vals["offsets.retention.minutes"]; ok {
		g.OffsetsRetention = time.Duration(atoi(v)) * time.Minute
	}
	if d, ok := ms("offsets.retention.check.interval.ms"); ok {
		g.OffsetsRetentionCheckInterval = d
	}
	if v, ok := vals["offset.metadata.max.bytes"]; ok {
		g.OffsetMetadataMaxBytes = int(atoi(v))
	}
	if err := g.WithDefaults().Validate(); err != nil {
		d := g.WithDefaults()
		return g, &SettingError{Name: "group.max.session.timeout.ms", Value: strconv.FormatInt(d.MaxSessionTimeout.Milliseconds(), 10),
			Reason: "must be at least group.min.session.timeout.ms (" + strconv.FormatInt(d.MinSessionTimeout.Milliseconds(), 10) + ")"}
	}
	return g, nil
}
