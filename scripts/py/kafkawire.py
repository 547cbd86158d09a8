#!/usr/bin/python3
"""Raw Kafka wire and record-batch inspection for the cross-client suite.

Standard library only, so it runs on any python3. It exists because the
clients under test hide the one thing some checks need to see: how a record
batch is really stored and served. A client that reads a topic back gets the
same records whether the producer compressed them or not, so a producer that
silently stops compressing (KAFKA-18659: librdkafka before 2.10 sends
uncompressed batches when the broker's ApiVersions does not list Produce v0)
goes unnoticed unless someone looks at the batch attributes.

Subcommands (exit 0 when the assertion holds, 1 when it does not, 2 on error):

  disk-codec DIR CODEC [OPTIONS]
      Scan every *.log file under DIR (a partition directory of the broker's
      data dir) for Kafka v2 record batches and require that at least N
      (default 1) were found and that every one uses CODEC.

  fetch-codec HOST:PORT TOPIC PARTITION CODEC [OPTIONS]
      Fetch the partition from offset 0 to its high watermark with raw Fetch
      v4 requests and apply the same test to the batches the broker serves.

  OPTIONS: --min-batches N   require at least N matching batches (default 1)
           --from OFFSET     only judge batches holding offsets >= OFFSET
           --producer-id     also require a producer id and base sequence
                             (an idempotent producer's batches)

  api-versions HOST:PORT [KEY ...]
      Print "key min max" for every API the broker advertises (ApiVersions
      v0). With KEYs, exit 0 only if all of them are advertised.

CODEC is none, gzip, snappy, lz4 or zstd.

Batch scanning does not assume the segment file layout: a file may start
with a header of its own or frame batches in some way. A batch is recognised
where magic (byte 16) is 2, the length is sane and the CRC-32C over bytes
21..end matches the stored CRC; the scan then resumes after that batch.
"""

import glob
import os
import socket
import struct
import sys

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODEC_NAMES = {v: k for k, v in CODECS.items()}

# v2 record batch header layout (all big-endian):
#   0 baseOffset int64, 8 batchLength int32 (bytes after this field),
#   12 partitionLeaderEpoch int32, 16 magic int8, 17 crc uint32 (CRC-32C of
#   bytes 21..end), 21 attributes int16 (bits 0-2 codec, 3 timestamp type,
#   4 transactional, 5 control), 23 lastOffsetDelta int32, 27 baseTimestamp,
#   35 maxTimestamp, 43 producerId int64, 51 producerEpoch int16,
#   53 baseSequence int32, 57 recordCount int32; records from byte 61.
BATCH_HEADER = 61


def _crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class Batch:
    __slots__ = ("pos", "base_offset", "last_offset", "attributes", "records", "producer_id", "base_sequence")

    def __init__(self, pos, base_offset, last_offset, attributes, records, producer_id, base_sequence):
        self.pos = pos
        self.base_offset = base_offset
        self.last_offset = last_offset
        self.attributes = attributes
        self.records = records
        self.producer_id = producer_id
        self.base_sequence = base_sequence

    @property
    def codec(self):
        return self.attributes & 0x07

    def __str__(self):
        return "batch@%d offsets %d..%d records=%d attributes=0x%04x codec=%s producerId=%d baseSequence=%d" % (
            self.pos, self.base_offset, self.last_offset, self.records, self.attributes,
            CODEC_NAMES.get(self.codec, "unknown(%d)" % self.codec), self.producer_id, self.base_sequence)


def _batch_at(buf, pos):
    """Return (Batch, size) if a valid v2 batch starts at pos, else None."""
    if pos + BATCH_HEADER > len(buf) or buf[pos + 16] != 2:
        return None
    length = struct.unpack_from(">i", buf, pos + 8)[0]
    size = 12 + length
    if length < BATCH_HEADER - 12 or pos + size > len(buf):
        return None
    stored = struct.unpack_from(">I", buf, pos + 17)[0]
    if crc32c(memoryview(buf)[pos + 21:pos + size]) != stored:
        return None
    base = struct.unpack_from(">q", buf, pos)[0]
    attrs = struct.unpack_from(">h", buf, pos + 21)[0]
    delta = struct.unpack_from(">i", buf, pos + 23)[0]
    pid = struct.unpack_from(">q", buf, pos + 43)[0]
    seq = struct.unpack_from(">i", buf, pos + 53)[0]
    count = struct.unpack_from(">i", buf, pos + 57)[0]
    return Batch(pos, base, base + delta, attrs, count, pid, seq), size


def scan_batches(buf, exact=False):
    """Find the v2 batches in buf. With exact, batches must be back to back
    from byte 0 (a Fetch response's records field) and a trailing partial
    batch is allowed (brokers may cut the last one, KIP-74)."""
    out = []
    pos = 0
    while pos + BATCH_HEADER <= len(buf):
        found = _batch_at(buf, pos)
        if found is None:
            if exact:
                if pos + 12 <= len(buf):
                    length = struct.unpack_from(">i", buf, pos + 8)[0]
                    if pos + 12 + length > len(buf):
                        break  # partial trailing batch
                raise ValueError("no valid v2 batch at byte %d of %d" % (pos, len(buf)))
            pos += 1
            continue
        batch, size = found
        out.append(batch)
        pos += size
    return out


class Options:
    def __init__(self, rest):
        self.min_batches, self.from_offset, self.producer_id = 1, 0, False
        it = iter(rest)
        for a in it:
            if a == "--min-batches":
                self.min_batches = int(next(it))
            elif a == "--from":
                self.from_offset = int(next(it))
            elif a == "--producer-id":
                self.producer_id = True
            else:
                raise ValueError("unknown option %r" % a)


def check_codec(batches, codec, opts, where):
    if codec not in CODECS:
        raise ValueError("unknown codec %r; want one of %s" % (codec, ", ".join(CODECS)))
    want = CODECS[codec]
    for b in batches:
        print("  " + str(b))
    batches = [b for b in batches if b.last_offset >= opts.from_offset]
    if len(batches) < opts.min_batches:
        print("FAIL: %s: found %d record batches at/after offset %d, want at least %d" % (
            where, len(batches), opts.from_offset, opts.min_batches))
        return 1
    bad = [b for b in batches if b.codec != want]
    if bad:
        print("FAIL: %s: %d of %d batches at/after offset %d are not %s-compressed (first: %s)" % (
            where, len(bad), len(batches), opts.from_offset, codec, bad[0]))
        return 1
    if opts.producer_id:
        bad = [b for b in batches if b.producer_id < 0 or b.base_sequence < 0]
        if bad:
            print("FAIL: %s: %d of %d batches lack a producer id / sequence (first: %s)" % (
                where, len(bad), len(batches), bad[0]))
            return 1
    print("ok: %s: all %d batches at/after offset %d use codec %s%s" % (
        where, len(batches), opts.from_offset, codec, " with producer ids" if opts.producer_id else ""))
    return 0


def cmd_disk_codec(args):
    directory, codec, opts = args[0], args[1], Options(args[2:])
    files = sorted(glob.glob(os.path.join(directory, "*.log")))
    if not files:
        print("FAIL: no *.log segment files in %s (contents: %s)" % (
            directory, sorted(os.listdir(directory)) if os.path.isdir(directory) else "missing"))
        return 1
    batches = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        found = scan_batches(data)
        print("%s: %d bytes, %d batches" % (f, len(data), len(found)))
        batches.extend(found)
    return check_codec(batches, codec, opts, "segments in " + directory)


class Conn:
    """A minimal blocking Kafka connection: request header v1, no tagged fields."""

    def __init__(self, addr, timeout=15.0):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.corr = 0

    def request(self, key, version, body):
        self.corr += 1
        client = b"sluice-compat"
        hdr = struct.pack(">hhih", key, version, self.corr, len(client)) + client
        msg = hdr + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        size = struct.unpack(">i", self._read(4))[0]
        resp = self._read(size)
        corr = struct.unpack_from(">i", resp, 0)[0]
        if corr != self.corr:
            raise ValueError("correlation id %d, want %d" % (corr, self.corr))
        return resp[4:]

    def _read(self, n):
        chunks = []
        while n > 0:
            c = self.sock.recv(n)
            if not c:
                raise ValueError("connection closed by broker")
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks)

    def close(self):
        self.sock.close()


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self):
        n = self.take(">i")
        if n < 0:
            return None
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b


def api_versions(addr):
    conn = Conn(addr)
    try:
        r = Reader(conn.request(18, 0, b""))
    finally:
        conn.close()
    err = r.take(">h")
    if err:
        raise ValueError("ApiVersions v0 error code %d" % err)
    return {k: (lo, hi) for k, lo, hi in (r.take(">hhh") for _ in range(r.take(">i")))}


def cmd_api_versions(args):
    addr, keys = args[0], [int(k) for k in args[1:]]
    vers = api_versions(addr)
    for k in sorted(vers):
        print("%d %d %d" % (k, vers[k][0], vers[k][1]))
    missing = [k for k in keys if k not in vers]
    if missing:
        print("not advertised: %s" % " ".join(map(str, missing)))
        return 1
    return 0


def fetch_v4(conn, topic, partition, offset, max_bytes=4 << 20):
    t = topic.encode()
    body = struct.pack(">iiiib", -1, 100, 1, max_bytes, 0)  # replica, wait, min, max, isolation
    body += struct.pack(">i", 1) + struct.pack(">h", len(t)) + t
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, max_bytes)
    r = Reader(conn.request(1, 4, body))
    r.take(">i")  # throttle
    for _ in range(r.take(">i")):
        name = r.string()
        for _ in range(r.take(">i")):
            p, err, hw, _lso = r.take(">ihqq")
            aborted = r.take(">i")
            for _ in range(max(aborted, 0)):
                r.take(">qq")
            records = r.bytes_() or b""
            if name == topic and p == partition:
                return err, hw, records
    raise ValueError("fetch response has no %s[%d]" % (topic, partition))


def cmd_fetch_codec(args):
    addr, topic, partition, codec = args[0], args[1], int(args[2]), args[3]
    opts = Options(args[4:])
    conn = Conn(addr)
    batches = []
    offset = 0
    try:
        for _ in range(1000):
            err, hw, records = fetch_v4(conn, topic, partition, offset)
            if err:
                print("FAIL: Fetch v4 %s[%d] offset %d: error code %d" % (topic, partition, offset, err))
                return 1
            if offset >= hw:
                break
            got = scan_batches(records, exact=True)
            if not got:
                print("FAIL: Fetch v4 %s[%d] offset %d below high watermark %d returned no whole batch (%d bytes)"
                      % (topic, partition, offset, hw, len(records)))
                return 1
            batches.extend(b for b in got if b.last_offset >= offset)
            offset = got[-1].last_offset + 1
    finally:
        conn.close()
    return check_codec(batches, codec, opts, "Fetch v4 of %s[%d]" % (topic, partition))


def main(argv):
    cmds = {"disk-codec": (cmd_disk_codec, 2), "fetch-codec": (cmd_fetch_codec, 4),
            "api-versions": (cmd_api_versions, 1)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][1]:
        sys.stderr.write(__doc__)
        return 2
    try:
        return cmds[argv[1]][0](argv[2:])
    except (OSError, ValueError, struct.error) as e:
        print("ERROR: %s: %s" % (argv[1], e))
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
