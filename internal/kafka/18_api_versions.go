package kafka

// ApiVersions (key 18), versions 0-4 served.
//
// The list of APIs is derived from the handler registry: every
// NN_api_name.go registers itself with the versions it serves.
// The response header is always v0 (no tagged fields), even for flexible
// request versions, so that a client can read it before it knows what the
// broker speaks. A request version above the highest served is answered
// with UNSUPPORTED_VERSION and the ApiKeys list in a v0 body, so that the
// client retries with a version it finds there (KIP-511); server.go does
// that before decoding the body.
//
// Skipped: v3+ ClientSoftwareName/Version are accepted but not validated
// or recorded; no SupportedFeatures/FinalizedFeatures are reported (a
// single-node broker has no feature levels to negotiate).

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const apiVersionsKey = 18

func init() {
	register(apiHandler{Key: apiVersionsKey, MinVersion: 0, MaxVersion: 4, Handle: handleApiVersions})
}

// apiKeysServed lists the registry in key order with advertised versions.
func apiKeysServed() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]int16, 0, len(handlers))
	for k := range handlers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]kmsg.ApiVersionsResponseApiKey, 0, len(keys))
	for _, k := range keys {
		h := handlers[k]
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, h.MinVersion, h.MaxVersion
		out = append(out, ak)
	}
	return out
}

func handleApiVersions(rc *requestContext, req kmsg.Request) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiKeysServed()
	return resp, nil
}

// unsupportedApiVersionsBody is the v0 ApiVersions response body sent for
// a request version we do not serve.
func unsupportedApiVersionsBody() []byte {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeysServed()
	return resp.AppendTo(nil)
}
