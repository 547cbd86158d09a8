package kafka

// kafka-python compatibility (2.0.2, Debian's python3-kafka), when it is
// installed. Skipped otherwise.

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
addr, topic, codec = sys.argv[1], sys.argv[2], sys.argv[3]
p = KafkaProducer(bootstrap_servers=addr, acks='all', linger_ms=5,
                  compression_type=None if codec == 'none' else codec)
futs = [p.send(topic, key=b'k%d' % i, value=b'value-%d' % i, partition=0) for i in range(300)]
p.flush()
offs = [f.get(timeout=10).offset for f in futs]
assert offs == list(range(300)), offs[:10]
p.close()
c = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False, consumer_timeout_ms=5000)
tp = TopicPartition(topic, 0)
c.assign([tp])
c.seek_to_beginning(tp)
got = []
while len(got) < 300:
    batch = c.poll(timeout_ms=2000)
    if not batch:
        break
    for recs in batch.values():
        got.extend(r.value for r in recs)
assert got == [b'value-%d' % i for i in range(300)], (len(got), got[:3])
end = c.end_offsets([tp])[tp]
assert end == 300, end
ts = c.offsets_for_times({tp: 0})[tp]
assert ts is not None and ts.offset == 0, ts
c.close()
print("ok", c.config['api_version'])
`

func TestKafkaPythonCompat(t *testing.T) {
	t.Parallel()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		t.Skip("kafka-python not installed")
	}
	b := newTestBroker(t)
	for _, codec := range []string{"none", "gzip"} {
		t.Run(codec, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, py, "-c", kafkaPythonScript, b.Addr, "py-"+codec, codec).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "ok") {
				t.Fatalf("kafka-python: %v\n%s", err, out)
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}
}
