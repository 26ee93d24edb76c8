package main

import (
	"context"
	"io"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	m := NewMain()
	m.Out = io.Discard
	m.Config.DataDir = t.TempDir()
	m.Config.Addr = "127.0.0.1:0"
	m.Config.Demo = false
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	probe := NewMain()
	probe.Config.Addr = m.Addr()
	if err := probe.Healthcheck(context.Background()); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := probe.Healthcheck(context.Background()); err == nil {
		t.Fatal("a stopped server reported healthy")
	}
}
