// Package idb is localstore.Store on IndexedDB, for the SDK compiled to
// WebAssembly (GOOS=js GOARCH=wasm) in the browser. Every blob is sealed
// with AES-GCM by WebCrypto under a 256-bit key generated non-extractable
// and kept in the same IndexedDB database: script on the page can use the
// key but never read its bytes, and deleting the database destroys it.
//
// It passes localstore/localstoretest inside headless Chromium
// (browser_test.go builds the suite for wasm and runs it there).
package idb
