package kafka

// DescribeCluster (key 60), versions 0-2 served.
//
// The cluster is this one broker: Brokers lists it (Config.NodeID, the
// local address of the connection the request came on, as Metadata
// advertises it; no rack), ControllerID is this broker (a Sluice node is
// its own controller), ClusterID comes from the metastore.
//
//   - ClusterAuthorizedOperations: -2147483648 ("not provided") unless
//     IncludeClusterAuthorizedOperations; then every operation Kafka
//     defines on the CLUSTER resource, since Sluice has no ACLs and,
//     like Kafka without an authorizer, allows everything.
//   - EndpointType (v1+): 1 (brokers) is answered; 2 (controllers) is
//     MISMATCHED_ENDPOINT_TYPE, as from a Kafka broker listener (KIP-919:
//     clients ask controllers only over a controller listener, which Sluice
//     does not have); any other value UNSUPPORTED_ENDPOINT_TYPE.
//   - IncludeFencedBrokers (v2): accepted; this broker is never fenced.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiHandler{Key: 60, MinVersion: 0, MaxVersion: 2, Handle: handleDescribeCluster})
}

const (
	endpointBrokers     = 1
	endpointControllers = 2
	// authorizedOpsNotProvided is Kafka's Integer.MIN_VALUE marker.
	authorizedOpsNotProvided = -2147483648
)

// clusterOperations is the bitfield of the ACL operations Kafka defines on
// the CLUSTER resource (bit n set for operation code n): ALTER (7),
// DESCRIBE (8), CLUSTER_ACTION (9), DESCRIBE_CONFIGS (10),
// ALTER_CONFIGS (11), IDEMPOTENT_WRITE (12) and CREATE (5).
const clusterOperations int32 = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func handleDescribeCluster(rc *requestContext, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	endpoint := req.EndpointType
	if req.Version < 1 {
		endpoint = endpointBrokers // v0 has no EndpointType field
	}
	resp.EndpointType = endpoint

	switch endpoint {
	case endpointBrokers:
	case endpointControllers:
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("the request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
		return resp, nil
	default:
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("unsupported endpoint type %d", endpoint))
		return resp, nil
	}

	host, port := rc.advertised()
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = rc.Config.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	resp.ClusterID = rc.Meta.ClusterID()
	resp.ControllerID = rc.Config.NodeID
	resp.ClusterAuthorizedOperations = authorizedOpsNotProvided
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	return resp, nil
}
