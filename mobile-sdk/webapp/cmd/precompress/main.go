// Command precompress writes the Brotli (best setting) and gzip -9 copies
// of the field app's engine files that the server sends to browsers: run
// by `make webapp` on its output directory, because Brotli's best setting
// takes most of a minute on app.wasm, too long to do while a phone waits.
//
//	go run ./mobile-sdk/webapp/cmd/precompress bin/webapp
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/joinedup/joinedup/mobile-sdk/webapp"
)

func main() {
	quality := flag.Int("quality", webapp.BrotliBest, "Brotli quality, 0-11")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: precompress [-quality n] engine-dir")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := webapp.Precompress(flag.Arg(0), *quality); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
