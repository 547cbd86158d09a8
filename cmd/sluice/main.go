// Command sluice is the Sluice broker and its command-line tools; see
// 'sluice help'.
package main

import (
	"os"

	"github.com/sluice-mq/sluice/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
