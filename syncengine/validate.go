package syncengine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The schema's validate tags, compiled once into rules that read a record's
// fields directly: checking a save costs what it touched, with no JSON round
// trip of the record and no reflection. A text field is measured by its rune
// count, never turned into a string, unless a rule reads its content. The
// tags and their meaning are go-playground/validator's; a property test
// holds the two to the same answers.

// valueKind is how a field's Go type reads a record's field.
type valueKind uint8

const (
	vString valueKind = iota + 1
	vBool
	vTime
	vStrings
	vCounts
	vText
)

type rule struct {
	tag   string
	param string
	n     int64    // max, gte, lte
	words []string // oneof
	other string   // the json name of the field required_if, required_unless and gtefield read
}

type fieldRules struct {
	name  string
	kind  valueKind
	rules []rule // on the value itself
	keys  []rule // dive,keys...endkeys: on each key of a counter
	elems []rule // after dive: on each element (set) or value (counter)
}

type compiledSchema struct {
	fields []*fieldRules
	byName map[string]*fieldRules
	// readers lists, for each field, the fields whose rules read it: a
	// save that touches status must check the fields required unless draft.
	readers map[string][]string
}

var compiled = map[string]*compiledSchema{}

func init() {
	for typ, s := range schemas {
		c, err := compileSchema(s.goType)
		if err != nil {
			panic(fmt.Sprintf("schema %s: %v", typ, err))
		}
		compiled[typ] = c
	}
}

func compileSchema(t reflect.Type) (*compiledSchema, error) {
	c := &compiledSchema{byName: map[string]*fieldRules{}, readers: map[string][]string{}}
	jsonName := map[string]string{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		jsonName[f.Name] = strings.Split(f.Tag.Get("json"), ",")[0]
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fr := &fieldRules{name: jsonName[f.Name]}
		switch {
		case f.Tag.Get("crdt") == "text":
			fr.kind = vText
		case f.Tag.Get("crdt") == "set":
			fr.kind = vStrings
		case f.Tag.Get("crdt") == "counter":
			fr.kind = vCounts
		case f.Type.Kind() == reflect.String:
			fr.kind = vString
		case f.Type.Kind() == reflect.Bool:
			fr.kind = vBool
		case f.Type == reflect.TypeOf(&time.Time{}):
			fr.kind = vTime
		default:
			return nil, fmt.Errorf("field %s: type %s has no compiled reader", f.Name, f.Type)
		}
		dst := &fr.rules
		tag := f.Tag.Get("validate")
		if tag != "" {
			for _, part := range strings.Split(tag, ",") {
				name, param, _ := strings.Cut(part, "=")
				switch name {
				case "dive":
					dst = &fr.elems
					continue
				case "keys":
					dst = &fr.keys
					continue
				case "endkeys":
					dst = &fr.elems
					continue
				}
				r := rule{tag: name, param: param}
				switch name {
				case "required", "omitempty", "recordid", "nocoords", "tallykey":
				case "max", "gte", "lte":
					n, err := strconv.ParseInt(param, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("field %s: %s=%q", f.Name, name, param)
					}
					r.n = n
				case "oneof":
					r.words = strings.Fields(param)
				case "required_if", "required_unless":
					other, val, ok := strings.Cut(param, " ")
					if !ok || jsonName[other] == "" {
						return nil, fmt.Errorf("field %s: %s=%q", f.Name, name, param)
					}
					r.other, r.param = jsonName[other], val
				case "gtefield":
					if jsonName[param] == "" {
						return nil, fmt.Errorf("field %s: gtefield=%q", f.Name, param)
					}
					r.other = jsonName[param]
				default:
					return nil, fmt.Errorf("field %s: rule %q has no compiled check", f.Name, name)
				}
				if r.other != "" {
					c.readers[r.other] = append(c.readers[r.other], fr.name)
				}
				*dst = append(*dst, r)
			}
		}
		c.fields = append(c.fields, fr)
		c.byName[fr.name] = fr
	}
	return c, nil
}

// fieldValue is one field of a record as its schema type reads it.
type fieldValue struct {
	kind   valueKind
	str    string
	text   *Field // vText: measured by Len, read only when a rule needs it
	b      bool
	t      *time.Time
	elems  []string
	counts map[string]int64
	bad    bool // a register value that is not JSON of the field's type
}

func (v *fieldValue) empty() bool {
	switch v.kind {
	case vString:
		return v.str == ""
	case vText:
		return v.text == nil || v.text.Text.Len() == 0
	case vBool:
		return !v.b
	case vTime:
		return v.t == nil
	case vStrings:
		return len(v.elems) == 0
	case vCounts:
		return len(v.counts) == 0
	}
	return true
}

func (v *fieldValue) content() string {
	if v.kind == vText {
		if v.text == nil {
			return ""
		}
		return v.text.Text.String()
	}
	return v.str
}

func (v *fieldValue) runes() int {
	if v.kind == vText {
		if v.text == nil {
			return 0
		}
		return v.text.Text.Len()
	}
	return utf8.RuneCountInString(v.str)
}

// read decodes field fr of r the way encoding/json fills the schema struct:
// absent or null is the zero value; a register holding JSON of another type
// is bad.
func read(r *Record, fr *fieldRules) fieldValue {
	v := fieldValue{kind: fr.kind}
	f := r.Fields[fr.name]
	if f == nil {
		return v
	}
	switch fr.kind {
	case vText:
		if f.Kind == KindText && f.Text != nil {
			v.text = f
		}
		return v
	case vStrings:
		if f.Kind == KindSet {
			v.elems = f.Elements()
		}
		return v
	case vCounts:
		if f.Kind == KindCounter {
			v.counts = f.Counts
		}
		return v
	}
	if f.Kind != KindRegister || len(f.Values) == 0 {
		return v
	}
	raw := f.Values[0].Value
	if string(raw) == "null" {
		return v
	}
	v.bad = !decodeScalar(raw, fr.kind, &v)
	return v
}

// decodeScalar decodes a register value of kind into v, as json.Unmarshal
// would (ok false where it fails), without its reflection and validation
// passes for the forms the engine itself writes: every push validates the
// fields it touches.
func decodeScalar(raw []byte, kind valueKind, v *fieldValue) (ok bool) {
	var err error
	switch kind {
	case vString:
		v.str, ok = StringValue(raw)
		return ok
	case vBool:
		switch string(raw) {
		case "true", "false":
			v.b = string(raw) == "true"
			return true
		}
		err = json.Unmarshal(raw, &v.b)
	case vTime:
		var t time.Time
		// A quoted RFC 3339 time is valid JSON as it stands, and
		// json.Unmarshal hands time exactly these bytes.
		if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' {
			err = t.UnmarshalJSON(raw)
		} else {
			err = json.Unmarshal(raw, &t)
		}
		if err == nil {
			v.t = &t
		}
	}
	return err == nil
}

// check runs fr's rules on r and appends what it breaks.
func (c *compiledSchema) check(r *Record, fr *fieldRules, out []FieldError) []FieldError {
	v := read(r, fr)
	if v.bad {
		return append(out, FieldError{Field: fr.name, Rule: "type"})
	}
	if broken := c.rules(r, fr.rules, &v); broken != "" {
		return append(out, FieldError{Field: fr.name, Rule: broken})
	}
	switch fr.kind {
	case vStrings:
		for _, e := range v.elems {
			ev := fieldValue{kind: vString, str: e}
			if broken := c.rules(r, fr.elems, &ev); broken != "" {
				out = append(out, FieldError{Field: fr.name, Rule: broken})
			}
		}
	case vCounts:
		for k, n := range v.counts {
			kv := fieldValue{kind: vString, str: k}
			if broken := c.rules(r, fr.keys, &kv); broken != "" {
				out = append(out, FieldError{Field: fr.name, Rule: broken})
			}
			for _, rl := range fr.elems {
				if (rl.tag == "gte" && n < rl.n) || (rl.tag == "lte" && n > rl.n) {
					out = append(out, FieldError{Field: fr.name, Rule: rl.tag})
					break
				}
			}
		}
	}
	return out
}

// rules returns the first rule v breaks ("" if none), as the validator
// reports one error per value.
func (c *compiledSchema) rules(r *Record, rules []rule, v *fieldValue) string {
	for _, rl := range rules {
		switch rl.tag {
		case "omitempty":
			if v.empty() {
				return ""
			}
		case "required":
			if v.empty() {
				return rl.tag
			}
		case "required_if", "required_unless":
			o := read(r, c.byName[rl.other])
			match := !o.bad && o.content() == rl.param
			if match == (rl.tag == "required_if") && v.empty() {
				return rl.tag
			}
		case "max":
			if int64(v.runes()) > rl.n {
				return rl.tag
			}
		case "oneof":
			if !contains(rl.words, v.content()) {
				return rl.tag
			}
		case "recordid":
			if !ValidRecordID(v.content()) {
				return rl.tag
			}
		case "nocoords":
			if hasCoords(v.content()) {
				return rl.tag
			}
		case "tallykey":
			if !validTallyKey(v.content()) {
				return rl.tag
			}
		case "gtefield":
			o := read(r, c.byName[rl.other])
			if v.t == nil || o.t == nil || v.t.Before(*o.t) {
				return rl.tag
			}
		}
	}
	return ""
}

// Validate checks a record's visible state against its schema and returns the
// rules it breaks, sorted. Unknown types and erased records have no rules.
// A register holding JSON of another type than its field breaks "type".
func Validate(r *Record) ([]FieldError, error) {
	return validateFields(r, nil), nil
}

// validateFields checks only the named fields (nil: all of them).
func validateFields(r *Record, names []string) []FieldError {
	c := compiled[r.Type]
	if c == nil || r.Erased != nil {
		return nil
	}
	var out []FieldError
	if names == nil {
		for _, fr := range c.fields {
			out = c.check(r, fr, out)
		}
	} else {
		for _, n := range names {
			if fr := c.byName[n]; fr != nil {
				out = c.check(r, fr, out)
			}
		}
	}
	sortFieldErrors(out)
	return out
}

func sortFieldErrors(out []FieldError) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Field != out[j].Field {
			return out[i].Field < out[j].Field
		}
		return out[i].Rule < out[j].Rule
	})
}

// touchedFields lists the fields of record id that cs writes, with the
// fields whose rules read them; nil means every field (the save creates
// the record, or changes it as a whole).
func touchedFields(cs *Changeset, id RecordID, typ string) []string {
	c := compiled[typ]
	seen := map[string]bool{}
	var out []string
	var add func(string)
	add = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		out = append(out, n)
		if c != nil {
			for _, rd := range c.readers[n] {
				add(rd)
			}
		}
	}
	for i := range cs.Ops {
		o := &cs.Ops[i]
		if o.Record != id {
			continue
		}
		switch o.Kind {
		case OpCreate, OpErase, OpRedacted:
			return nil
		case OpOmitted:
			continue
		}
		add(o.Field)
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// fieldLimitOf is a field's max= (or lte=, per counter value).
func fieldLimitOf(typ, field string) (int, bool) {
	c := compiled[typ]
	if c == nil || c.byName[field] == nil {
		return 0, false
	}
	fr := c.byName[field]
	for _, rs := range [][]rule{fr.rules, fr.elems} {
		for _, rl := range rs {
			if sizeRules[rl.tag] {
				return int(rl.n), true
			}
		}
	}
	return 0, false
}
