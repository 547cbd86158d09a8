package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/sluice-mq/sluice/broker"
)

func init() {
	register("serve", "run the broker (Kafka, SQS, dashboard and metrics) on a data directory", runServe)
}

const serveSynopsis = `sluice serve [flags]

Runs the broker until SIGINT or SIGTERM, then stops accepting connections,
fsyncs every log and exits 0. Settings use Kafka's broker names (see
'go doc github.com/sluice-mq/sluice/broker'); --set overrides --config.`

// shutdownGrace bounds how long a clean stop may take before serve gives
// up waiting and exits non-zero (the logs recover their tail on the next
// start, so nothing acknowledged is lost either way).
const shutdownGrace = 10 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveSynopsis, stderr)
	dataDir := fs.String("data-dir", broker.DefaultDataDir, "data directory (created if missing)")
	kafkaAddr := fs.String("kafka-addr", broker.DefaultKafkaAddr, `Kafka listener host:port ("-" disables)`)
	sqsAddr := fs.String("sqs-addr", broker.DefaultSQSAddr, `SQS listener host:port ("-" disables)`)
	httpAddr := fs.String("http-addr", broker.DefaultHTTPAddr, `HTTP listener host:port: dashboard, admin API, /metrics, /healthz ("-" disables)`)
	configFile := fs.String("config", "", "broker settings file in Kafka server.properties format")
	var sets stringList
	fs.Var(&sets, "set", "a broker setting `key=value` (repeatable), e.g. --set num.partitions=3")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("cli: serve: unexpected argument %q", fs.Arg(0))
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("cli: serve: --log-level %q: want debug, info, warn or error", *logLevel)
	}
	var handler slog.Handler
	switch opts := (&slog.HandlerOptions{Level: level}); *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, opts)
	case "json":
		handler = slog.NewJSONHandler(stderr, opts)
	default:
		return fmt.Errorf("cli: serve: --log-format %q: want text or json", *logFormat)
	}
	logger := slog.New(handler)

	settings := map[string]string{}
	if *configFile != "" {
		m, err := broker.ReadPropertiesFile(*configFile)
		if err != nil {
			return err
		}
		maps.Copy(settings, m)
	}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("cli: serve: --set %q: want key=value", kv)
		}
		settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}

	b, err := broker.Open(broker.Config{
		DataDir:   *dataDir,
		KafkaAddr: *kafkaAddr,
		SQSAddr:   *sqsAddr,
		HTTPAddr:  *httpAddr,
		Settings:  settings,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return err
	}
	a := b.Addrs()
	logger.Info("sluice: ready", "kafka", orOff(a.Kafka), "http", orOff(a.HTTP), "data_dir", b.DataDir())

	<-ctx.Done()
	logger.Info("sluice: shutting down")
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		logger.Info("sluice: stopped cleanly")
		return nil
	case <-time.After(shutdownGrace):
		return errors.New("cli: serve: shutdown did not finish in time; the next start recovers the logs")
	}
}

func orOff(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}
