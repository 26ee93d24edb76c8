// Command fieldsim is a phone on the command line: a JoinedUp field worker's
// device with its own state directory, built on the mobile SDK exactly as the
// apps are. It drives the README walkthrough, the SDK's end-to-end and
// kill tests, and the many-devices load benchmark.
//
//	fieldsim -dir D enrol -server URL -code C
//	fieldsim -dir D offline | online
//	fieldsim -dir D add-young-person -known-as NAME
//	fieldsim -dir D add-encounter -area AREA -note TEXT [-yp ID]
//	fieldsim -dir D edit-note -id X -pos N (-insert TEXT | -delete N) [-field note]
//	fieldsim -dir D set -id X -field F -value JSON       (also resolves a conflict)
//	fieldsim -dir D draft-referral -yp ID -reason TEXT [-service S] [-urgency U]
//	fieldsim -dir D consent -id X -consent given|refused|not_asked|shared_without_consent [-why TEXT]
//	fieldsim -dir D submit-referral -id X
//	fieldsim -dir D add-followup -due RFC3339 [-yp ID] [-note TEXT]
//	fieldsim -dir D followups | today | list -type T
//	fieldsim -dir D sync [-page-bytes N] [-timeout D] [-v]
//	fieldsim -dir D show -id X | conflicts -id X
//	fieldsim -dir D status
//	fieldsim -dir D logout [-force]
//	fieldsim -dir D burst -n N -tag T [-sync]   (N saves, each printed once durable; for kill tests)
//	fieldsim -dir D load -server URL -supervisor EMAIL:PASSWORD -people ID,ID -devices N -syncs M
//
// The at-rest key a real phone keeps in its keystore is the file D/keystore.key.
package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	mobilesdk "github.com/joinedup/joinedup/mobile-sdk"
)

// usage is the package doc's list of commands.
const usage = `usage: fieldsim [-dir D] <command> [flags]   (D: the phone's state directory, default ./phone)

commands:
  enrol -server URL -code C              enrol this phone and run its first sync
  offline | online                       tell the phone the network went or came back
  add-young-person -known-as NAME
  add-encounter -area AREA -note TEXT [-yp ID]
  edit-note -id X -pos N (-insert TEXT | -delete N) [-field note]
  set -id X -field F -value JSON         (also resolves a conflict)
  draft-referral -yp ID -reason TEXT [-service S] [-urgency U]
  consent -id X -consent given|refused|not_asked|shared_without_consent [-why TEXT]
  submit-referral -id X
  add-followup -due RFC3339 [-yp ID] [-note TEXT]
  followups | today | list -type T
  sync [-page-bytes N] [-timeout D] [-v]
  show -id X | conflicts -id X
  status
  logout [-force]
  burst -n N -tag T [-sync]              N saves, each printed once durable (kill tests)
  load -server URL -supervisor EMAIL:PASSWORD -people ID,ID -devices N -syncs M

"fieldsim <command> -h" lists a command's flags.
`

// errUsage: the command line is wrong; usage is printed and the exit code is 2.
var errUsage = errors.New("usage")

func main() {
	err := run(os.Args[1:], os.Stdout)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2) // -h: the flag package printed the help (as go -h does)
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "fieldsim: %v\n\n%s", err, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "fieldsim: %s (code %s)\n", mobilesdk.ErrorMessage(err), mobilesdk.ErrorCode(err))
		if mobilesdk.ErrorCode(err) == "internal" {
			fmt.Fprintf(os.Stderr, "  %v\n", err)
		}
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	global := flag.NewFlagSet("fieldsim", flag.ContinueOnError)
	global.SetOutput(os.Stderr)
	global.Usage = func() { fmt.Fprint(global.Output(), usage) }
	dir := global.String("dir", "./phone", "the phone's state directory")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if global.NArg() == 0 {
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := global.Arg(0), global.Args()[1:]
	if cmd == "help" {
		fmt.Fprint(out, usage)
		return nil
	}
	if !commands[cmd] {
		// Before opening the phone: a typo must not create a state directory.
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if cmd == "load" {
		return runLoad(rest, out)
	}
	key, err := keystore(*dir)
	if err != nil {
		return err
	}
	c, err := mobilesdk.Open(*dir, key, "sim")
	if err != nil {
		return err
	}
	defer c.Close()
	p := &phone{c: c, dir: *dir, out: out}
	return p.do(cmd, rest)
}

// commands are the ones usage lists.
var commands = map[string]bool{}

func init() {
	for _, c := range strings.Fields("enrol offline online add-young-person add-encounter edit-note set draft-referral consent " +
		"submit-referral add-followup followups today list sync show conflicts status logout burst load") {
		commands[c] = true
	}
}

// keystore stands in for Android Keystore / iOS Keychain: a random 32-byte
// key in the state directory, created on first use.
func keystore(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "keystore.key")
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, mobilesdk.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		return key, os.WriteFile(path, key, 0o600)
	}
	return key, err
}

type phone struct {
	c   *mobilesdk.Client
	dir string
	out io.Writer
}

func (p *phone) printf(format string, args ...any) { fmt.Fprintf(p.out, format, args...) }

// printJSON pretty-prints a JSON string.
// printResult prints a read's JSON, or returns its error.
func (p *phone) printResult(s string, err error) error {
	if err != nil {
		return err
	}
	p.printJSON(s)
	return nil
}

func (p *phone) printJSON(s string) {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		p.printf("%s\n", s)
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	p.printf("%s\n", b)
}

func (p *phone) do(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var (
		server   = fs.String("server", "", "server URL, e.g. http://localhost:8080")
		code     = fs.String("code", "", "enrolment code from a supervisor")
		id       = fs.String("id", "", "record id")
		field    = fs.String("field", "note", "field name")
		pos      = fs.Int64("pos", 0, "position in the text, in characters")
		insert   = fs.String("insert", "", "text to insert")
		del      = fs.Int64("delete", 0, "number of characters to delete")
		value    = fs.String("value", "", "JSON value")
		area     = fs.String("area", "Town centre", "area (a place name, never coordinates)")
		note     = fs.String("note", "", "narrative text")
		yp       = fs.String("yp", "", "young person id")
		knownAs  = fs.String("known-as", "", "what the young person likes to be called")
		team     = fs.String("team", "", "team id (default: this worker's team)")
		reason   = fs.String("reason", "", "why the referral")
		service  = fs.String("service", "", "service id")
		urgency  = fs.String("urgency", "", "routine, soon or urgent")
		consent  = fs.String("consent", "", "consent decision")
		why      = fs.String("why", "", "justification for sharing without consent")
		due      = fs.String("due", "", "due time, RFC 3339")
		typ      = fs.String("type", "encounter", "record type")
		force    = fs.Bool("force", false, "log out even with unsynced work")
		verbose  = fs.Bool("v", false, "print sync progress")
		page     = fs.Int64("page-bytes", 0, "largest pull page in bytes (pages shrink by themselves on a slow link)")
		timeout  = fs.Duration("timeout", 0, "how long one sync round trip may take (default 60s)")
		n        = fs.Int("n", 10, "how many")
		tag      = fs.String("tag", "burst", "marker for burst saves")
		thenSync = fs.Bool("sync", false, "sync after the burst")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fields := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] != "" {
				m[kv[i]] = kv[i+1]
			}
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	if *team != "" {
		if err := p.c.SetDefaultTeam(*team); err != nil {
			return err
		}
	}
	if *page > 0 {
		p.c.SetPageBytes(*page)
	}
	if *timeout > 0 {
		p.c.SetRequestTimeout(timeout.Milliseconds())
	}
	c := p.c
	switch cmd {
	case "enrol":
		person, err := c.Enrol(*server, *code)
		if err != nil {
			return err
		}
		p.printf("enrolled as %s; first sync...\n", person)
		return p.sync(*verbose)
	case "offline", "online":
		if err := c.ConnectivityChanged(cmd == "online"); err != nil {
			return err
		}
		p.printf("%s\n", cmd)
	case "add-young-person":
		rid, err := c.CreateYoungPerson(fields("known_as", *knownAs))
		if err != nil {
			return err
		}
		p.printf("%s\n", rid)
	case "add-encounter":
		f := map[string]any{"area": *area}
		if *note != "" {
			f["note"] = *note
		}
		if *yp != "" {
			f["young_people"] = []string{*yp}
		}
		b, _ := json.Marshal(f)
		rid, err := c.CreateEncounter(string(b))
		if err != nil {
			return err
		}
		p.printf("%s\n", rid)
	case "edit-note":
		var err error
		switch {
		case *insert != "":
			err = c.InsertText(*id, *field, *pos, *insert)
		case *del > 0:
			err = c.DeleteText(*id, *field, *pos, *del)
		default:
			err = errors.New("edit-note needs -insert TEXT or -delete N")
		}
		if err != nil {
			return err
		}
		return p.showText(*id, *field)
	case "set":
		if err := c.Update(*id, fmt.Sprintf(`{%q:%s}`, *field, *value)); err != nil {
			return err
		}
		p.printf("saved\n")
	case "draft-referral":
		rid, err := c.DraftReferral(*yp, fields("reason", *reason, "service_id", *service, "urgency", *urgency))
		if err != nil {
			return err
		}
		p.printf("%s\n", rid)
	case "consent":
		if err := c.RecordConsent(*id, *consent, *why); err != nil {
			return err
		}
		p.printf("consent recorded\n")
	case "submit-referral":
		if *service != "" || *urgency != "" {
			if err := c.Update(*id, fields("service_id", *service, "urgency", *urgency)); err != nil {
				return err
			}
		}
		if err := c.SubmitReferral(*id); err != nil {
			return err
		}
		p.printf("submitted\n")
	case "add-followup":
		rid, err := c.CreateFollowUp(fields("due_at", *due, "young_person_id", *yp, "note", *note))
		if err != nil {
			return err
		}
		p.printf("%s\n", rid)
	case "followups":
		return p.list(c.MyFollowUps(0))
	case "today":
		return p.list(c.TodaysEncounters())
	case "list":
		return p.list(c.List(*typ))
	case "sync":
		return p.sync(*verbose)
	case "show":
		return p.printResult(c.Get(*id))
	case "conflicts":
		return p.printResult(c.Conflicts(*id))
	case "status":
		return p.printResult(c.Status())
	case "logout":
		rep, err := c.Logout(*force)
		if err != nil {
			return err
		}
		os.Remove(filepath.Join(p.dir, "keystore.key"))
		p.printJSON(rep)
	case "burst":
		// Each line is printed only after the save returned, i.e. is durable:
		// the kill test holds the phone to every line it saw.
		for i := 0; i < *n; i++ {
			marker := fmt.Sprintf("%s-%d", *tag, i)
			rid, err := c.CreateEncounter(fmt.Sprintf(`{"area":"Docks","note":%q}`, "kill test note "+marker+" end"))
			if err != nil {
				return err
			}
			p.printf("saved %s %s\n", marker, rid)
		}
		if *thenSync {
			return p.sync(*verbose)
		}
	default:
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	return nil
}

type progressPrinter struct{ p *phone }

func (pp progressPrinter) OnSyncProgress(js string) { pp.p.printf("progress %s\n", js) }

func (p *phone) sync(verbose bool) error {
	if verbose {
		p.c.SetProgressListener(progressPrinter{p})
	}
	sum, err := p.c.SyncNow()
	if err != nil {
		if mobilesdk.ErrorCode(err) == "revoked" {
			s, _ := p.c.Status()
			os.Remove(filepath.Join(p.dir, "keystore.key"))
			p.printf("device revoked: local data wiped\n")
			p.printJSON(s)
		}
		return err
	}
	p.printf("synced %s\n", sum)
	return nil
}

func (p *phone) showText(id, field string) error {
	v, err := p.c.Get(id)
	if err != nil {
		return err
	}
	var view struct {
		Values map[string]json.RawMessage `json:"values"`
	}
	json.Unmarshal([]byte(v), &view)
	p.printf("%s: %s\n", field, view.Values[field])
	return nil
}

// list prints one line per record: id, type and its most telling values.
func (p *phone) list(js string, err error) error {
	if err != nil {
		return err
	}
	var views []struct {
		ID        string                     `json:"id"`
		Type      string                     `json:"type"`
		Values    map[string]json.RawMessage `json:"values"`
		Conflicts []json.RawMessage          `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(js), &views); err != nil {
		return err
	}
	for _, v := range views {
		var parts []string
		for _, f := range []string{"started_at", "due_at", "status", "area", "known_as", "kind", "note"} {
			if raw, ok := v.Values[f]; ok && string(raw) != `""` {
				s := string(raw)
				if len(s) > 60 {
					s = s[:57] + `..."`
				}
				parts = append(parts, f+"="+s)
			}
		}
		if len(v.Conflicts) > 0 {
			parts = append(parts, fmt.Sprintf("CONFLICTS=%d", len(v.Conflicts)))
		}
		p.printf("%s %s %s\n", v.ID, v.Type, strings.Join(parts, " "))
	}
	p.printf("(%d)\n", len(views))
	return nil
}
