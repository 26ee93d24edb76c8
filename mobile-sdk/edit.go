package mobilesdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// Every editing method is one save: one changeset, durable in the local
// database and queued for the server when the method returns. Field values
// are passed as JSON objects of the record schema's field names (see
// syncengine/schema.go); how a value is written depends on the field's kind:
//   - register (scalars, times): the value, superseding every value seen;
//   - set (topics, young_people, workers): a JSON array, the whole new set
//     (the difference is written as adds and removes, so concurrent adds survive);
//   - counter (tallies): an object of key -> wanted total (written as deltas);
//   - text (note, reason, wants...): the whole new text, written as the
//     smallest insert/delete; use InsertText/DeleteText to edit by position.

// edit runs fn as one save by this device's owner.
func (c *Client) edit(fn func(tx *syncengine.Txn, me string) error) error {
	c.editMu.Lock()
	defer c.editMu.Unlock()
	st, rep, err := c.state(true)
	if err != nil {
		return err
	}
	me, err := st.Meta("person_id")
	if err != nil {
		return err
	}
	if _, err := rep.Edit(me, func(tx *syncengine.Txn) error { return fn(tx, me) }); err != nil {
		return err
	}
	c.loop.localChange()
	return nil
}

func parseFields(fieldsJSON string) (map[string]json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if fieldsJSON == "" {
		return fields, nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(fieldsJSON)))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil {
		return nil, errorf(syncengine.EINVALID, "edit", "fields must be a JSON object")
	}
	return fields, nil
}

// writeFields writes each field by its schema kind, in name order (so a save
// is deterministic).
func writeFields(tx *syncengine.Txn, id syncengine.RecordID, fields map[string]json.RawMessage) error {
	rec, err := tx.Record(id)
	if err != nil {
		return err
	}
	if rec == nil {
		return errorf(syncengine.ENOTFOUND, "edit", "record %s not found", id)
	}
	schema := syncengine.SchemaFor(rec.Type)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := fields[name]
		kind := schema.Fields[name]
		if kind == 0 || name == syncengine.DeletedField {
			return errorf(syncengine.EINVALID, "edit", "a %s has no field %q", rec.Type, name)
		}
		if err := writeField(tx, id, name, kind, raw); err != nil {
			return err
		}
	}
	return nil
}

func writeField(tx *syncengine.Txn, id syncengine.RecordID, name string, kind syncengine.FieldKind, raw json.RawMessage) error {
	bad := func(want string) error {
		return errorf(syncengine.EINVALID, "edit", "field %s takes %s", name, want)
	}
	rec, err := tx.Record(id)
	if err != nil {
		return err
	}
	switch kind {
	case syncengine.KindRegister:
		if f := rec.Fields[name]; f != nil && len(f.Values) == 1 && bytes.Equal(f.Values[0].Value, raw) {
			return nil // unchanged: writing it again would only make history
		}
		return tx.SetJSON(id, name, raw)
	case syncengine.KindSet:
		var want []string
		if json.Unmarshal(raw, &want) != nil {
			return bad("a JSON array of strings")
		}
		var have []string
		if f := rec.Fields[name]; f != nil {
			have = f.Elements()
		}
		for _, e := range want {
			if !slices.Contains(have, e) {
				if err := tx.Add(id, name, e); err != nil {
					return err
				}
			}
		}
		for _, e := range have {
			if !slices.Contains(want, e) {
				if err := tx.Remove(id, name, e); err != nil {
					return err
				}
			}
		}
	case syncengine.KindCounter:
		var want map[string]int64
		if json.Unmarshal(raw, &want) != nil {
			return bad("a JSON object of whole numbers")
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var have int64
			if f := rec.Fields[name]; f != nil {
				have = f.Counts[k]
			}
			if err := tx.Increment(id, name, k, want[k]-have); err != nil {
				return err
			}
		}
	case syncengine.KindText:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return bad("a JSON string")
		}
		return tx.ReplaceText(id, name, s)
	}
	return nil
}

// Create makes a record of type typ ("encounter", "young_person", "referral",
// "follow_up") with the given fields, and returns its new id.
func (c *Client) Create(typ, fieldsJSON string) (string, error) {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return "", err
	}
	return c.create(typ, fields)
}

func (c *Client) create(typ string, fields map[string]json.RawMessage) (string, error) {
	if _, ok := fields["team_id"]; !ok && syncengine.SchemaFor(typ) != nil && syncengine.SchemaFor(typ).Fields["team_id"] != 0 {
		team, err := c.defaultTeam()
		if err != nil {
			return "", err
		}
		if team == "" {
			return "", errorf(syncengine.EINVALID, "create", "team_id is required: this phone's person has no team of their own; call SetDefaultTeam or pass team_id")
		}
		fields["team_id"] = jsonString(team)
	}
	var id syncengine.RecordID
	err := c.edit(func(tx *syncengine.Txn, me string) error {
		var err error
		if id, err = tx.Create(typ); err != nil {
			return err
		}
		return writeFields(tx, id, fields)
	})
	return string(id), err
}

// Update writes fields of an existing record, as one save.
func (c *Client) Update(id, fieldsJSON string) error {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return err
	}
	return c.edit(func(tx *syncengine.Txn, me string) error {
		return writeFields(tx, syncengine.RecordID(id), fields)
	})
}

func jsonString(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
func jsonTime(t time.Time) json.RawMessage {
	return jsonString(t.UTC().Truncate(time.Second).Format(time.RFC3339))
}

func setDefault(fields map[string]json.RawMessage, name string, v json.RawMessage) {
	if _, ok := fields[name]; !ok {
		fields[name] = v
	}
}

// CreateEncounter starts a contact session. Defaults: team_id (this worker's
// team), started_at now, workers [me].
func (c *Client) CreateEncounter(fieldsJSON string) (string, error) {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return "", err
	}
	setDefault(fields, "started_at", jsonTime(c.clock()))
	if me := c.PersonID(); me != "" {
		setDefault(fields, "workers", json.RawMessage(fmt.Sprintf("[%s]", jsonString(me))))
	}
	return c.create(syncengine.TypeEncounter, fields)
}

// CreateYoungPerson adds a pseudonymous profile (known_as is required).
func (c *Client) CreateYoungPerson(fieldsJSON string) (string, error) {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return "", err
	}
	if me := c.PersonID(); me != "" {
		setDefault(fields, "key_worker", jsonString(me))
	}
	return c.create(syncengine.TypeYoungPerson, fields)
}

// DraftReferral starts a referral for a young person as a draft.
func (c *Client) DraftReferral(youngPersonID, fieldsJSON string) (string, error) {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return "", err
	}
	fields["young_person_id"] = jsonString(youngPersonID)
	fields["status"] = jsonString("draft")
	return c.create(syncengine.TypeReferral, fields)
}

// RecordConsent records the young person's consent decision on a referral:
// "not_asked", "given", "refused" or "shared_without_consent" (which needs a
// justification and records this worker as the decider).
func (c *Client) RecordConsent(referralID, consent, justification string) error {
	return c.edit(func(tx *syncengine.Txn, me string) error {
		id := syncengine.RecordID(referralID)
		f := map[string]json.RawMessage{"consent": jsonString(consent)}
		if justification != "" {
			f["consent_justification"] = jsonString(justification)
		}
		if consent == "shared_without_consent" {
			f["consent_decided_by"] = jsonString(me)
		}
		return writeFields(tx, id, f)
	})
}

// SubmitReferral moves a draft referral to submitted (the engine refuses it
// if a required field, e.g. service, reason, urgency or consent, is missing).
func (c *Client) SubmitReferral(referralID string) error {
	return c.edit(func(tx *syncengine.Txn, me string) error {
		id := syncengine.RecordID(referralID)
		return writeFields(tx, id, map[string]json.RawMessage{"status": jsonString("submitted"), "submitted_at": jsonTime(c.clock())})
	})
}

// SetReferralStatus moves a referral along its lifecycle (withdrawn, closed...).
func (c *Client) SetReferralStatus(referralID, status string) error {
	return c.Update(referralID, mustJSON(map[string]string{"status": status}))
}

// CreateFollowUp adds something to do by a time (due_at RFC 3339). Defaults:
// assignee me, status open.
func (c *Client) CreateFollowUp(fieldsJSON string) (string, error) {
	fields, err := parseFields(fieldsJSON)
	if err != nil {
		return "", err
	}
	if me := c.PersonID(); me != "" {
		setDefault(fields, "assignee", jsonString(me))
	}
	setDefault(fields, "status", jsonString("open"))
	return c.create(syncengine.TypeFollowUp, fields)
}

// CompleteFollowUp marks a follow-up done.
func (c *Client) CompleteFollowUp(id string) error {
	return c.Update(id, `{"status":"done"}`)
}

// InsertText inserts text at rune offset pos of a text field, as a text box
// reports a keystroke or a paste.
func (c *Client) InsertText(id, field string, pos int64, text string) error {
	return c.edit(func(tx *syncengine.Txn, me string) error {
		return tx.InsertText(syncengine.RecordID(id), field, int(pos), text)
	})
}

// DeleteText deletes n runes at rune offset pos of a text field.
func (c *Client) DeleteText(id, field string, pos, n int64) error {
	return c.edit(func(tx *syncengine.Txn, me string) error {
		return tx.DeleteText(syncengine.RecordID(id), field, int(pos), int(n))
	})
}

// Resolve settles a conflicting field by writing a new value (JSON; often one
// of the competing values) that supersedes every value this phone has seen.
func (c *Client) Resolve(id, field, valueJSON string) error {
	if !json.Valid([]byte(valueJSON)) {
		return errorf(syncengine.EINVALID, "resolve", "value must be JSON")
	}
	return c.edit(func(tx *syncengine.Txn, me string) error {
		return tx.SetJSON(syncengine.RecordID(id), field, json.RawMessage(valueJSON))
	})
}

// DeleteRecord tombstones a record (a supervisor can restore it).
func (c *Client) DeleteRecord(id string) error {
	return c.edit(func(tx *syncengine.Txn, me string) error { return tx.Delete(syncengine.RecordID(id)) })
}

// SetDefaultTeam sets the team new records belong to when the fields do not
// say (needed for supervisors of several teams).
func (c *Client) SetDefaultTeam(teamID string) error {
	st, _, err := c.state(false)
	if err != nil {
		return err
	}
	return st.SetMeta(map[string]string{"team_id": teamID})
}

// defaultTeam is the team set by SetDefaultTeam or, failing that, the
// person's team from the enrolment answer (known before the first sync
// brings any record), or the only team among the records this phone holds.
func (c *Client) defaultTeam() (string, error) {
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	for _, key := range []string{"team_id", "enrol_team_id"} {
		if t, err := st.Meta(key); err != nil || t != "" {
			return t, err
		}
	}
	recs, err := st.Find(localstore.Query{})
	if err != nil {
		return "", err
	}
	teams := map[string]bool{}
	for _, r := range recs {
		if t := localstore.IndexOf(r, func(syncengine.RecordID) string { return "" }).Team; t != "" {
			teams[t] = true
		}
	}
	if len(teams) == 1 {
		for t := range teams {
			return t, nil
		}
	}
	return "", nil
}
