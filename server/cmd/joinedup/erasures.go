package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/joinedup/joinedup/server/domain"
)

// runErasures is `joinedup erasures export|reapply -store postgres
// -database-url URL [FILE]`: the erasure ledger (ids and times, never
// content) written out as JSON lines to keep beside the database's backups,
// and applied again to a database restored from before some of them. On
// SQLite the ledger file beside the database does this by itself at every
// start. Exit status 0: done; 1: failed; 2: usage.
func runErasures(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := "usage: joinedup erasures export|reapply -store postgres [-database-url URL] [FILE (default: stdout / stdin)]"
	if len(args) == 0 || (args[0] != "export" && args[0] != "reapply") {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("joinedup erasures "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	sc := storeFlags(fs, DefaultConfig().Store)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if sc.Kind != storePostgres {
		fmt.Fprintln(stderr, "erasures: on SQLite the ledger is the file joinedup.db.erasures beside the database, applied again at every start; back it up with the database")
		return 2
	}
	if err := sc.Validate(); err != nil {
		fmt.Fprintf(stderr, "erasures: %v\n", err)
		return 2
	}
	db, err := openPostgres(ctx, *sc)
	if err != nil {
		fmt.Fprintf(stderr, "erasures: %v\n", err)
		return 1
	}
	defer db.Close()
	if args[0] == "export" {
		out := stdout
		if fs.NArg() > 0 {
			f, err := os.OpenFile(fs.Arg(0), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				fmt.Fprintf(stderr, "erasures export: %v\n", err)
				return 1
			}
			defer f.Close()
			out = f
		}
		entries, err := db.Ledger(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "erasures export: %v\n", err)
			return 1
		}
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				fmt.Fprintf(stderr, "erasures export: %v\n", err)
				return 1
			}
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stdout, "%d ledger entries written to %s\n", len(entries), fs.Arg(0))
		}
		return 0
	}
	in := io.Reader(os.Stdin)
	if fs.NArg() > 0 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(stderr, "erasures reapply: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	var entries []domain.LedgerEntry
	sc2 := bufio.NewScanner(in)
	sc2.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc2.Scan(); n++ {
		if len(sc2.Bytes()) == 0 {
			continue
		}
		var e domain.LedgerEntry
		if err := json.Unmarshal(sc2.Bytes(), &e); err != nil || e.Record == "" || (e.Kind != "erase" && e.Kind != "redact") {
			fmt.Fprintf(stderr, "erasures reapply: line %d is not a ledger entry; nothing applied\n", n)
			return 1
		}
		entries = append(entries, e)
	}
	if err := sc2.Err(); err != nil {
		fmt.Fprintf(stderr, "erasures reapply: %v\n", err)
		return 1
	}
	res, err := db.ReapplyLedger(ctx, entries)
	if err != nil {
		fmt.Fprintf(stderr, "erasures reapply: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d ledger entries applied: %d records erased again, %d encounters redacted again, %d phones told to purge\n",
		len(entries), len(res.Erased), len(res.Redacted), res.Devices)
	return 0
}
