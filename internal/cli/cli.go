// Package cli implements the sluice command line. Each subcommand lives in
// its own file and registers itself from init() with register; Main
// dispatches on the first argument.
//
// A subcommand's run function gets the arguments after its name, stdout and
// stderr, and a context that is cancelled on SIGINT or SIGTERM. It returns
// nil for success, an error wrapping flag.ErrHelp after printing help on
// request (exit status 0), or another error, which Main prints to stderr
// (exit status 1).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
)

// command is one registered subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand. It is called from init() functions, so a
// duplicate name is a programming error and panics at start-up.
func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("cli: command registered twice: " + name)
	}
	commands[name] = command{name: name, summary: summary, run: run}
}

// Main runs the command line args (without the program name) and returns
// the process exit status: 0 success, 1 failure, 2 usage error.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal starts a graceful stop, restore the
		// default handling so that a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	return run(ctx, args, os.Stdout, os.Stderr)
}

// run is Main with its context and streams passed in, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if c, ok := commands[rest[0]]; ok {
				return exitCode(c.run(ctx, []string{"-h"}, stdout, stderr), stderr)
			}
			fmt.Fprintf(stderr, "sluice: unknown command %q\n", rest[0])
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return exitCode(c.run(ctx, rest, stdout, stderr), stderr)
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: %v\n", strings.TrimPrefix(err.Error(), "cli: "))
		return 1
	}
}

// usage lists the registered commands.
func usage(w io.Writer) {
	fmt.Fprint(w, "sluice is a single-node message broker that speaks the Kafka protocol and the Amazon SQS API.\n\nusage: sluice <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", n, commands[n].summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nRun 'sluice help <command>' or 'sluice <command> -h' for a command's flags.\n")
}
