package faultproxy

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// echo is a server that sends back what it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends n bytes through the proxy and returns what came back.
func roundTrip(t *testing.T, p *Proxy, n int) ([]byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
	return io.ReadAll(c)
}

func TestFaults(t *testing.T) {
	target := echo(t)
	for _, tc := range []struct {
		name    string
		faults  Faults
		n       int
		wantErr bool
		wantMax int // at most this many bytes come back (0: all)
		stat    func(Stats) int64
	}{
		{name: "faithful", n: 1 << 20},
		{name: "bandwidth-limited still delivers", faults: Faults{BytesPerSecond: 1 << 20}, n: 64 << 10},
		{name: "reset after N bytes", faults: Faults{ResetAfter: 10000}, n: 1 << 20, wantErr: true, wantMax: 10000, stat: func(s Stats) int64 { return s.Resets }},
		{name: "cut mid-request", faults: Faults{CutRequest: 1, CutWindow: 5000}, n: 1 << 20, wantErr: true, wantMax: 5000, stat: func(s Stats) int64 { return s.Cuts }},
		{name: "cut mid-response", faults: Faults{CutResponse: 1, CutWindow: 5000}, n: 1 << 20, wantErr: true, wantMax: 5000, stat: func(s Stats) int64 { return s.Cuts }},
		{name: "refused", faults: Faults{Refuse: true}, n: 16, wantErr: true, wantMax: -1, stat: func(s Stats) int64 { return s.Refused }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(target, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.Set(tc.faults)
			got, err := roundTrip(t, p, tc.n)
			switch {
			case !tc.wantErr && (err != nil || len(got) != tc.n):
				t.Fatalf("got %d bytes, err %v; want all %d", len(got), err, tc.n)
			case tc.wantErr && len(got) == tc.n:
				t.Fatalf("got all %d bytes; want the connection cut", len(got))
			case tc.wantMax > 0 && len(got) > tc.wantMax:
				t.Fatalf("got %d bytes; want at most %d", len(got), tc.wantMax)
			case tc.wantMax < 0 && len(got) > 0:
				t.Fatalf("a refused connection carried %d bytes", len(got))
			}
			if tc.stat != nil && tc.stat(p.Stats()) == 0 {
				t.Fatalf("stats do not count the fault: %+v", p.Stats())
			}
		})
	}
}
