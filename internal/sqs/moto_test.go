package sqs

// moto_test.go: a differential check against moto (the Python AWS mock)
// with boto3: the same calls against both, outcomes compared. Where moto
// departs from AWS's documentation (or from what Amazon SQS answers), the
// documentation wins; those differences are listed in motoKnown with the
// reason. Skipped when python3 cannot import moto and boto3.

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// motoKnown are the expected differences, by scenario step.
var motoKnown = map[string]string{
	"send empty":         "AWS answers MissingParameter for an empty MessageBody; moto stores an empty message",
	"send bad char":      "AWS refuses characters outside #x9 #xA #xD #x20-#xD7FF … with InvalidMessageContents; moto stores them",
	"batch":              "AWS omits an empty Failed list from the JSON response; moto sends \"Failed\": []",
	"visibility forged":  "AWS's model gives ReceiptHandleIsInvalid HTTP 404 (awsQueryError); moto answers 400",
	"set attributes bad": "VisibilityTimeout is 0-43200 (InvalidAttributeValue); moto accepts 43201",
}

func TestMotoDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	py, err := exec.LookPath("python3")
	if err != nil || exec.Command(py, "-c", "import boto3, moto.server").Run() != nil {
		t.Skip("python3 with boto3 and moto is not available")
	}
	e := newEnv(t)
	e.inProcess()
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(c, py, "testdata/moto_diff.py", e.endpoint).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("moto_diff.py: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var res struct {
		Boto3, Moto string
		Steps       int
		Diffs       []struct {
			Step         string
			Moto, Sluice json.RawMessage
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("boto3 %s, moto %s: %d steps, %d differences", res.Boto3, res.Moto, res.Steps, len(res.Diffs))
	if res.Steps < 40 {
		t.Fatalf("the scenario ran only %d steps", res.Steps)
	}
	for _, d := range res.Diffs {
		if why, ok := motoKnown[d.Step]; ok {
			t.Logf("known difference at %q (%s): moto %s, sluice %s", d.Step, why, d.Moto, d.Sluice)
			continue
		}
		t.Errorf("unexpected difference at %q: moto %s, sluice %s", d.Step, d.Moto, d.Sluice)
	}
}
