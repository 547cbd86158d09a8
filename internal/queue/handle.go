package queue

// Receipt handles. A handle names one lease of one message: the message's
// offset and the queue-wide lease sequence number given to that receive,
// authenticated with HMAC-SHA-256 under the queue's random key (kept in
// its snapshot, new for every queue incarnation), so a handle cannot be
// forged, and one from another queue — or from a deleted queue of the
// same name — is rejected. Layout before base64url (no padding):
//
//	0   1  version (1)
//	1   8  offset, big-endian
//	9   8  lease sequence number, big-endian
//	17 16  the first 16 bytes of HMAC-SHA-256(key, bytes 0..16)

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
)

const (
	handleVersion = 1
	handleRawLen  = 33
)

// handleMAC computes handle MACs under one key. Not safe for concurrent
// use: a queue uses its own under Queue.mu.
type handleMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newHandleMAC(key *[32]byte) *handleMAC { return &handleMAC{h: hmac.New(sha256.New, key[:])} }

func (m *handleMAC) mac(b []byte) []byte {
	m.h.Reset()
	m.h.Write(b)
	return m.h.Sum(m.sum[:0])[:16]
}

func makeHandle(m *handleMAC, offset int64, seq uint64) string {
	var raw [handleRawLen]byte
	raw[0] = handleVersion
	binary.BigEndian.PutUint64(raw[1:], uint64(offset))
	binary.BigEndian.PutUint64(raw[9:], seq)
	copy(raw[17:], m.mac(raw[:17]))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// parseHandle checks a handle and returns its offset and lease sequence.
func parseHandle(m *handleMAC, h string) (int64, uint64, bool) {
	if len(h) != base64.RawURLEncoding.EncodedLen(handleRawLen) {
		return 0, 0, false
	}
	var raw [handleRawLen]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(h)); err != nil || n != handleRawLen || raw[0] != handleVersion {
		return 0, 0, false
	}
	if !hmac.Equal(m.mac(raw[:17]), raw[17:]) {
		return 0, 0, false
	}
	off := int64(binary.BigEndian.Uint64(raw[1:]))
	if off < 0 {
		return 0, 0, false
	}
	return off, binary.BigEndian.Uint64(raw[9:]), true
}

func invalidHandle(h string) *Error {
	if len(h) > 64 {
		h = h[:64] + "…"
	}
	return errorf(CodeReceiptHandleIsInvalid, "The input receipt handle %q is not a valid receipt handle.", h)
}
