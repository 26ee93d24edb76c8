// Command wasm is the field app's engine in the browser: the SDK's own
// Client (package mobilesdk: the same sync loop, merge and store logic as
// the native apps) over IndexedDB (localstore/idb), exposed to the page's
// script as the global object `joinedup`, whose methods return promises.
// Built by `make webapp` into bin/webapp/app.wasm.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	mobilesdk "github.com/joinedup/joinedup/mobile-sdk"
	"github.com/joinedup/joinedup/mobile-sdk/localstore/idb"
)

// dbName is the IndexedDB database: one enrolled phone per browser profile.
const dbName = "joinedup"

// phone holds the client. After a wipe it is nil until the next enrolment:
// opening the store again would create a new database (with a new key),
// and the page must be able to show that nothing is left.
type phone struct {
	mu    sync.Mutex
	c     *mobilesdk.Client
	wiped bool
	lang  string
}

func (p *phone) setLanguage(lang string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		if err := p.c.SetLanguage(lang); err != nil {
			return err
		}
	}
	p.lang = lang
	return nil
}

var errNotOpen = errors.New("this phone is not set up: enrol it first")

func (p *phone) open() error {
	st, err := idb.Open(dbName)
	if err != nil {
		return err
	}
	c, err := mobilesdk.OpenStore(st, "web")
	if err != nil {
		return err
	}
	c.SetListener(p)
	c.SetProgressListener(p)
	_ = c.SetLanguage(p.lang) // checked when it was set
	p.c, p.wiped = c, false
	return nil
}

func (p *phone) client() (*mobilesdk.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return nil, errNotOpen
	}
	return p.c, nil
}

// OnStatus, OnWiped and OnSyncProgress are the SDK's callbacks, passed on to
// the page as events.
func (p *phone) OnStatus(statusJSON string) { emit("joinedup-status", statusJSON) }

func (p *phone) OnWiped(reportJSON string) {
	p.mu.Lock()
	c := p.c
	p.c, p.wiped = nil, true
	p.mu.Unlock()
	if c != nil {
		go c.Stop()
	}
	emit("joinedup-wiped", reportJSON)
}

func (p *phone) OnSyncProgress(progressJSON string) { emit("joinedup-progress", progressJSON) }

func emit(name, detailJSON string) {
	detail := js.Global().Get("JSON").Call("parse", detailJSON)
	ev := js.Global().Get("CustomEvent").New(name, map[string]any{"detail": detail})
	js.Global().Call("dispatchEvent", ev)
}

// enrol exchanges a code for this browser's identity (the code goes in a
// POST body, never the URL) and starts the background sync.
func (p *phone) enrol(code string) (any, error) {
	p.mu.Lock()
	if p.c == nil {
		if err := p.open(); err != nil {
			p.mu.Unlock()
			return nil, err
		}
	}
	c := p.c
	p.mu.Unlock()
	origin := js.Global().Get("location").Get("origin").String()
	person, err := c.Enrol(origin, code)
	if err != nil {
		return nil, err
	}
	c.Start()
	return person, nil
}

// status is the SDK's Status with "pending" (the saves not yet on the
// server) for the page's badge.
func (p *phone) status() (any, error) {
	c, err := p.client()
	if err != nil {
		p.mu.Lock()
		wiped := p.wiped
		p.mu.Unlock()
		return map[string]any{"enrolled": false, "wiped": wiped, "pending": 0}, nil
	}
	s, err := c.Status()
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	v["pending"] = v["pending_changesets"]
	return v, nil
}

// raw marks a string that is already JSON.
type raw string

// call runs fn on the client, for the methods that are one SDK call.
func (p *phone) call(fn func(c *mobilesdk.Client) (any, error)) (any, error) {
	c, err := p.client()
	if err != nil {
		return nil, err
	}
	return fn(c)
}

// promise runs fn on its own goroutine (IndexedDB and fetch block it) and
// settles a JS promise with its result: raw JSON as parsed, anything else
// marshalled. A rejection carries the SDK's error code in .code.
func promise(fn func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		exec := js.FuncOf(func(_ js.Value, pr []js.Value) any {
			resolve, reject := pr[0], pr[1]
			go func() {
				// A panic here would end the program (every later call
				// would hang): reject this one promise instead.
				defer func() {
					if r := recover(); r != nil {
						reject.Invoke(js.Global().Get("Error").New(fmt.Sprint("internal error: ", r)))
					}
				}()
				v, err := fn(args)
				if err != nil {
					e := js.Global().Get("Error").New(mobilesdk.ErrorMessage(err))
					e.Set("code", mobilesdk.ErrorCode(err))
					// For the page to word the error in its language:
					// the rules a save broke, and the language the
					// server worded its message in ("" English).
					e.Set("fields", js.Global().Get("JSON").Call("parse", mobilesdk.ErrorFields(err)))
					e.Set("lang", mobilesdk.ErrorLanguage(err))
					reject.Invoke(e)
					return
				}
				s, ok := v.(raw)
				if !ok {
					b, _ := json.Marshal(v)
					s = raw(b)
				}
				if s == "" {
					resolve.Invoke(js.Undefined())
					return
				}
				resolve.Invoke(js.Global().Get("JSON").Call("parse", string(s)))
			}()
			return nil
		})
		defer exec.Release() // the executor runs inside New
		return js.Global().Get("Promise").New(exec)
	})
}

// jsonArg is a JS value as JSON (objects for the SDK's fieldsJSON).
func jsonArg(v js.Value) string {
	if v.Type() == js.TypeString {
		return v.String()
	}
	return js.Global().Get("JSON").Call("stringify", v).String()
}

func str(a []js.Value, i int) string {
	if i >= len(a) || a[i].IsUndefined() || a[i].IsNull() {
		return ""
	}
	return a[i].String()
}

func main() {
	p := &phone{}
	openErr := p.open()
	if openErr == nil {
		if s, err := p.c.Status(); err == nil && !errors.Is(err, errNotOpen) {
			var v struct {
				Enrolled bool `json:"enrolled"`
			}
			if json.Unmarshal([]byte(s), &v) == nil && v.Enrolled {
				p.c.Start()
			}
		}
	}
	one := func(fn func(c *mobilesdk.Client, a []js.Value) (any, error)) js.Func {
		return promise(func(a []js.Value) (any, error) {
			return p.call(func(c *mobilesdk.Client) (any, error) { return fn(c, a) })
		})
	}
	list := func(s string, err error) (any, error) { return raw(s), err }
	none := func(err error) (any, error) { return nil, err }
	api := map[string]any{
		"ready":  promise(func([]js.Value) (any, error) { return nil, openErr }),
		"enrol":  promise(func(a []js.Value) (any, error) { return p.enrol(str(a, 0)) }),
		"status": promise(func([]js.Value) (any, error) { return p.status() }),
		"sync": one(func(c *mobilesdk.Client, _ []js.Value) (any, error) {
			s, err := c.SyncNow()
			return raw(s), err
		}),
		"requestSync": one(func(c *mobilesdk.Client, _ []js.Value) (any, error) { c.RequestSync(); return nil, nil }),
		"connectivity": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			return none(c.ConnectivityChanged(len(a) > 0 && a[0].Truthy()))
		}),
		// push is a Web Push message arriving (its data carries nothing
		// personal): any message means "sync".
		"push": one(func(c *mobilesdk.Client, a []js.Value) (any, error) { c.OnPushMessage(str(a, 0)); return nil, nil }),
		// The browser's FCM token (static/push.js gets it from the Firebase
		// JS SDK), filed with the server under this device.
		"registerPushToken":   one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return none(c.RegisterPushToken(str(a, 0))) }),
		"unregisterPushToken": one(func(c *mobilesdk.Client, _ []js.Value) (any, error) { return none(c.UnregisterPushToken()) }),
		"logout": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			s, err := c.Logout(len(a) > 0 && a[0].Truthy())
			if err != nil {
				return nil, err
			}
			p.mu.Lock()
			p.c, p.wiped = nil, true
			p.mu.Unlock()
			return raw(s), nil
		}),
		// Tonight's encounters: the last 18 hours, so a shift that crosses
		// midnight stays on one list.
		"encounters": one(func(c *mobilesdk.Client, _ []js.Value) (any, error) {
			now := time.Now()
			return list(c.EncountersBetween(now.Add(-18*time.Hour).UnixMilli(), now.Add(6*time.Hour).UnixMilli()))
		}),
		"list":       one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return list(c.List(str(a, 0))) }),
		"get":        one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return list(c.Get(str(a, 0))) }),
		"chronology": one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return list(c.Chronology(str(a, 0))) }),
		"followUps":  one(func(c *mobilesdk.Client, _ []js.Value) (any, error) { return list(c.MyFollowUps(0)) }),
		"conflicts":  one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return list(c.Conflicts(str(a, 0))) }),
		"services":   one(func(c *mobilesdk.Client, _ []js.Value) (any, error) { return list(services(c)) }),
		"me":         one(func(c *mobilesdk.Client, _ []js.Value) (any, error) { return c.PersonID(), nil }),
		"workers":    one(func(c *mobilesdk.Client, _ []js.Value) (any, error) { return list(c.Workers()) }),
		// language is the page's language, sent with every request so the
		// server words its refusals in it. Kept for a client opened later
		// (after an enrolment or a wipe).
		"language": promise(func(a []js.Value) (any, error) { return nil, p.setLanguage(str(a, 0)) }),
		"create": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			switch typ := str(a, 0); typ {
			case "encounter":
				return c.CreateEncounter(jsonArg(a[1]))
			case "young_person":
				return c.CreateYoungPerson(jsonArg(a[1]))
			case "follow_up":
				return c.CreateFollowUp(jsonArg(a[1]))
			default:
				return nil, fmt.Errorf("cannot create a %q here", typ)
			}
		}),
		"update": one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return none(c.Update(str(a, 0), jsonArg(a[1]))) }),
		// editText is the live editor's save (see Client.EditText): its
		// change since it last agreed with the store, moved past the words
		// others wrote meanwhile; it answers the text the store now holds.
		"editText": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			return c.EditText(str(a, 0), str(a, 1), str(a, 2), str(a, 3))
		}),
		"resolve": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			return none(c.Resolve(str(a, 0), str(a, 1), jsonArg(a[2])))
		}),
		"completeFollowUp": one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return none(c.CompleteFollowUp(str(a, 0))) }),
		"draftReferral": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			return c.DraftReferral(str(a, 0), jsonArg(a[1]))
		}),
		"recordConsent": one(func(c *mobilesdk.Client, a []js.Value) (any, error) {
			return none(c.RecordConsent(str(a, 0), str(a, 1), str(a, 2)))
		}),
		"submitReferral": one(func(c *mobilesdk.Client, a []js.Value) (any, error) { return none(c.SubmitReferral(str(a, 0))) }),
	}
	js.Global().Set("joinedup", js.ValueOf(api))
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("joinedup-ready"))
	select {}
}

// directory is what the app needs of the service directory the server
// sends to phones. The SDK's Services (a read-only directory in the pull)
// is used when the SDK has it; until then the service records it holds.
type directory interface{ Services() (string, error) }

func services(c *mobilesdk.Client) (string, error) {
	if d, ok := any(c).(directory); ok {
		return d.Services()
	}
	return c.List("service")
}
