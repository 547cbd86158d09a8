package sluice

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func attrStrings(m map[string]types.MessageAttributeValue) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v.StringValue != nil {
			out[k] = aws.ToString(v.StringValue)
		} else {
			out[k] = fmt.Sprintf("<%d bytes>", len(v.BinaryValue))
		}
	}
	return out
}
