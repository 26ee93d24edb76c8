//go:build js

package mobilesdk

import (
	"context"
	"fmt"
	"io"
	"syscall/js"
)

// fetchLink is the field app's link: the browser's fetch, without cookies
// (the device credential is the bearer token; a portal session in the same
// browser must not ride along), the HTTP cache or a referrer. A context
// that ends aborts the request.
type fetchLink struct{}

func defaultLink() link { return fetchLink{} }

func (fetchLink) send(ctx context.Context, method, url, cred, contentType, lang string, body []byte) (*reply, error) {
	headers := map[string]any{"Content-Type": contentType}
	if cred != "" {
		headers["Authorization"] = "Bearer " + cred
	}
	if lang != "" {
		headers["Accept-Language"] = lang
	}
	resp, stop, err := fetch(ctx, method, url, headers, body)
	if err != nil {
		return nil, err
	}
	defer stop()
	r := &reply{status: resp.Get("status").Int(), date: httpDate(header(resp, "Date")), lang: header(resp, "Content-Language")}
	ab, err := await(ctx, resp.Call("arrayBuffer"))
	if err != nil {
		r.readErr = err
		return r, nil
	}
	arr := js.Global().Get("Uint8Array").New(ab)
	if arr.Length() > maxAnswer {
		r.readErr = fmt.Errorf("the answer is larger than %d bytes", maxAnswer)
		return r, nil
	}
	r.body = make([]byte, arr.Length())
	js.CopyBytesToGo(r.body, arr)
	return r, nil
}

func (fetchLink) events(ctx context.Context, url, cred string) (int, io.ReadCloser, error) {
	resp, stop, err := fetch(ctx, "GET", url, map[string]any{"Authorization": "Bearer " + cred, "Accept": "text/event-stream"}, nil)
	if err != nil {
		return 0, nil, err
	}
	status := resp.Get("status").Int()
	b := resp.Get("body")
	if b.IsNull() || b.IsUndefined() {
		stop()
		return status, io.NopCloser(&emptyReader{}), nil
	}
	return status, &streamReader{ctx: ctx, r: b.Call("getReader"), stop: stop}, nil
}

// dialFailed and netTimeout: fetch tells neither apart from other network
// failures (a timeout is the context's, which tooSlow reads itself).
func dialFailed(error) bool { return false }

func netTimeout(error) bool { return false }

type emptyReader struct{}

func (*emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

// streamReader reads a fetch response's body as it arrives.
type streamReader struct {
	ctx  context.Context
	r    js.Value
	buf  []byte
	stop func()
}

func (s *streamReader) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		chunk, err := await(s.ctx, s.r.Call("read"))
		if err != nil {
			return 0, err
		}
		if chunk.Get("done").Bool() {
			return 0, io.EOF
		}
		v := chunk.Get("value")
		s.buf = make([]byte, v.Length())
		js.CopyBytesToGo(s.buf, v)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *streamReader) Close() error {
	s.r.Call("cancel")
	s.stop()
	return nil
}

func header(resp js.Value, name string) string {
	v := resp.Get("headers").Call("get", name)
	if v.Type() != js.TypeString {
		return ""
	}
	return v.String()
}

// fetch starts a request; stop releases the abort hook once it is done with.
func fetch(ctx context.Context, method, url string, headers map[string]any, body []byte) (resp js.Value, stop func(), err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fetch: %v", r)
		}
	}()
	ac := js.Global().Get("AbortController").New()
	opts := map[string]any{"method": method, "headers": headers, "credentials": "omit", "cache": "no-store",
		"referrerPolicy": "no-referrer", "signal": ac.Get("signal")}
	if body != nil {
		u8 := js.Global().Get("Uint8Array").New(len(body))
		js.CopyBytesToJS(u8, body)
		opts["body"] = u8
	}
	unhook := context.AfterFunc(ctx, func() { ac.Call("abort") })
	resp, err = await(ctx, js.Global().Call("fetch", url, opts))
	if err != nil {
		unhook()
		return js.Value{}, nil, err
	}
	return resp, func() { unhook() }, nil
}

// await waits for a promise. When ctx has ended its error is returned (the
// request was aborted by the caller's hook), so a timeout reads as one.
func await(ctx context.Context, p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- result{v: a[0]}; return nil })
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- result{err: fmt.Errorf("%s", a[0].Call("toString").String())}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	// An ended ctx aborts the request, which settles the promise at once:
	// waiting for it keeps the callbacks alive until they are called.
	r := <-ch
	if r.err != nil && ctx.Err() != nil {
		return js.Value{}, fmt.Errorf("fetch: %w", ctx.Err())
	}
	return r.v, r.err
}
