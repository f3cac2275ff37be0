package ingest_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackfruit-data/jackfruit/ingest-go/internal/ingest"
)

// protocolDoc is the one written contract between the binary and jackfruit's Python runners.
const protocolDoc = "../../../docs/ingester-protocol.md"

// docKindRows returns the rows of the exit-code table of protocolDoc: kind, exit code cell, Python class, when.
func docKindRows(t *testing.T) [][4]string {
	t.Helper()
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("the protocol doc: %v", err)
	}
	var rows [][4]string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "| kind | exit code | Python error class | when |") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Fatalf("table row with %d cells: %q", len(cells), line)
		}
		var row [4]string
		for i, c := range cells {
			row[i] = strings.Trim(strings.TrimSpace(c), "`")
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no exit-code table", protocolDoc)
	}
	return rows
}

// The exit-code table is written once, in the protocol doc: Kinds (ExitCode, --help) must say the same.
func TestKindsMatchTheProtocolDoc(t *testing.T) {
	rows := docKindRows(t)
	if len(rows) != len(ingest.Kinds) {
		t.Fatalf("the doc has %d kinds, ingest.Kinds %d", len(rows), len(ingest.Kinds))
	}
	for i, k := range ingest.Kinds {
		exit := strconv.Itoa(k.Exit)
		if k.Kind == ingest.KindCancelled {
			exit = "130 / " + exit
		}
		got := rows[i]
		if got[0] != string(k.Kind) || got[1] != exit || got[3] != k.When {
			t.Errorf("row %d: doc %q | %q | %q\n          Kinds %q | %q | %q", i, got[0], got[1], got[3], k.Kind, exit, k.When)
		}
		if k.Kind != ingest.KindCancelled && ingest.ExitCode(&ingest.Error{Kind: k.Kind}) != k.Exit {
			t.Errorf("ExitCode(%s) = %d", k.Kind, ingest.ExitCode(&ingest.Error{Kind: k.Kind}))
		}
	}
	if ingest.ExitCode(&ingest.Error{Kind: ingest.KindCancelled, Signal: 2}) != 130 ||
		ingest.ExitCode(&ingest.Error{Kind: ingest.KindCancelled, Signal: 15}) != 143 {
		t.Error("cancelled exits are not 130 / 143")
	}
}
