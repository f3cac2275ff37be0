// Command jackfruit-ingest retrieves one ADS request and commits the verified file to a write-once sink, or answers
// a question about the upstream's jobs (--find-job, --job-status). The command is internal/cli; the contract is
// docs/ingester-protocol.md.
package main

import (
	"os"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/cli"
)

func main() { os.Exit(run()) }

func run() int { return cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv) }
