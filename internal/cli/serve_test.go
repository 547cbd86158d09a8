package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The serve tests run `sluice serve` as a child process: the test binary
// re-executes itself into TestServeHelperProcess, which calls Main with the
// arguments after "--". This checks signals and exit codes for real without
// a separate `go build`.

const helperEnv = "SLUICE_CLI_HELPER_PROCESS"

func TestServeHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for the serve tests")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args))
}

// sluiceCmd returns a command running `sluice args...`.
func sluiceCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestServeHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	return cmd
}

var httpAddrRe = regexp.MustCompile(`msg="sluice: ready".* http=(\S+)`)

// startServe starts `sluice serve` on dir and waits until it logs ready;
// it returns the HTTP address and the process.
func startServe(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := sluiceCmd(t, "serve", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--sqs-addr", "-")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := httpAddrRe.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			t.Fatal("serve exited without reporting ready")
		}
		return cmd, addr
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not report ready in 15s")
	}
	return nil, ""
}

func TestServeHealthzSigtermAndLock(t *testing.T) {
	dir := t.TempDir()
	cmd, httpAddr := startServe(t, dir)

	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("/healthz = %d %q", resp.StatusCode, body)
	}

	// A second serve on the same data directory fails at once.
	second := sluiceCmd(t, "serve", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--sqs-addr", "-")
	var errOut bytes.Buffer
	second.Stderr = &errOut
	start := time.Now()
	err = second.Run()
	if err == nil || second.ProcessState.ExitCode() == 0 {
		t.Fatalf("second serve exited %v; stderr:\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "is in use by another sluice process") {
		t.Fatalf("second serve stderr lacks the lock message:\n%s", errOut.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second serve took %v to fail", d)
	}

	// SIGTERM: clean exit 0, quickly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not exit within 5s of SIGTERM")
	}

	// The lock is released: serve starts again on the same directory.
	cmd2, _ := startServe(t, dir)
	cmd2.Process.Signal(syscall.SIGINT)
	if err := cmd2.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGINT", err)
	}
}

func TestServeBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"serve", "--data-dir", t.TempDir(), "--set", "num.partitions=zero"}, "num.partitions"},
		{[]string{"serve", "--data-dir", t.TempDir(), "--set", "novalue"}, "want key=value"},
		{[]string{"serve", "--data-dir", t.TempDir(), "--config", "/nonexistent/server.properties"}, "server.properties"},
		{[]string{"serve", "--data-dir", t.TempDir(), "--kafka-addr", "nocolon"}, "Config.KafkaAddr"},
		{[]string{"serve", "--log-level", "loud"}, "--log-level"},
		{[]string{"serve", "extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want failure mentioning %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}

func TestServeConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	props := dir + "/server.properties"
	os.WriteFile(props, []byte("# test\nnum.partitions=2\nlog.retention.hours=1\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve returns right after start-up
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"serve", "--data-dir", dir + "/data", "--config", props, "--set", "log.retention.hours=2",
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--sqs-addr", "-"}, &out, &errOut)
	if code != 0 || !strings.Contains(errOut.String(), "sluice: stopped cleanly") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "serve") {
		t.Fatalf("help: exit %d, out %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"help", "serve"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "data-dir") {
		t.Fatalf("help serve: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"serve", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("serve -h: exit %d", code)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
	if code := run(context.Background(), nil, &out, &errOut); code != 2 {
		t.Fatalf("no command: exit %d", code)
	}
}
