package syncengine

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Record types.
const (
	TypeEncounter   = "encounter"
	TypeYoungPerson = "young_person"
	TypeReferral    = "referral"
	TypeFollowUp    = "follow_up"
	TypeService     = "service"
)

// Vocabularies shared with fixtures, server and portal.
var (
	AgeBands      = []string{"under-11", "11-13", "14-15", "16-17", "18-19", "20-25"}
	Genders       = []string{"female", "male", "non-binary", "other", "not-said"}
	Topics        = []string{"relationships", "sexual_health", "mental_health", "substance_use", "housing", "education", "employment", "family", "offending", "exploitation", "bullying", "online_safety", "physical_health", "money"}
	ConcernLevels = []string{"none", "low", "medium", "high", "urgent"}
	ServiceKinds  = []string{"housing", "camhs", "mental_health", "sexual_health", "social_care", "school_attendance", "youth_justice", "food_bank", "family_hub"}
	// ReferralFields are the referral fields a data-sharing agreement can grant.
	ReferralFields = []string{"young_person_id", "reason", "wants", "urgency", "consent", "status", "outcome", "known_as", "age_band"}
)

// The record schemas. Struct tags say everything: `json` names the field,
// `crdt` its merge semantics (register by default, set, counter, text), and
// `validate` the go-playground/validator rules, checked on every local edit
// and on every push the server receives.

// Encounter is one detached-work contact session.
type Encounter struct {
	TeamID       string           `json:"team_id" validate:"required,recordid"`
	Area         string           `json:"area" validate:"required,max=80,nocoords"`
	StartedAt    *time.Time       `json:"started_at" validate:"required"`
	EndedAt      *time.Time       `json:"ended_at" validate:"omitempty,gtefield=StartedAt"`
	Workers      []string         `json:"workers" crdt:"set" validate:"dive,recordid"`
	YoungPeople  []string         `json:"young_people" crdt:"set" validate:"dive,recordid"`
	Tallies      map[string]int64 `json:"tallies" crdt:"counter" validate:"dive,keys,tallykey,endkeys,gte=0,lte=1000"`
	Topics       []string         `json:"topics" crdt:"set" validate:"dive,oneof=relationships sexual_health mental_health substance_use housing education employment family offending exploitation bullying online_safety physical_health money"`
	Concern      bool             `json:"concern"`
	ConcernLevel string           `json:"concern_level" validate:"omitempty,oneof=none low medium high urgent"`
	Note         string           `json:"note" crdt:"text" validate:"max=20000"`
	Actions      string           `json:"actions" crdt:"text" validate:"max=4000"`
	ReviewStatus string           `json:"review_status" validate:"omitempty,oneof=awaiting_review signed_off"`
	SignedOffBy  string           `json:"signed_off_by" validate:"omitempty,recordid"`
	// ReviewComment is the supervisor's comment at sign-off (sign-off's, by policy).
	ReviewComment string `json:"review_comment" validate:"max=2000"`
}

// YoungPerson is a pseudonymous profile: never a legal name, address or GPS.
type YoungPerson struct {
	TeamID           string `json:"team_id" validate:"required,recordid"`
	KnownAs          string `json:"known_as" validate:"required,max=40"`
	AgeBand          string `json:"age_band" validate:"omitempty,oneof=under-11 11-13 14-15 16-17 18-19 20-25"`
	Gender           string `json:"gender" validate:"omitempty,oneof=female male non-binary other not-said"`
	Area             string `json:"area" validate:"max=80,nocoords"`
	KeyWorker        string `json:"key_worker" validate:"omitempty,recordid"`
	Wants            string `json:"wants" crdt:"text" validate:"max=4000"`
	SafeguardingHold bool   `json:"safeguarding_hold"`
	// MergedInto is the profile this one was merged into by a supervisor (a
	// duplicate of the same young person): kept, never listed.
	MergedInto string `json:"merged_into" validate:"omitempty,recordid"`
}

// Referral is a handoff of a young person to a service.
type Referral struct {
	TeamID               string     `json:"team_id" validate:"required,recordid"`
	YoungPersonID        string     `json:"young_person_id" validate:"required,recordid"`
	ServiceID            string     `json:"service_id" validate:"required_unless=Status draft,omitempty,recordid"`
	Reason               string     `json:"reason" crdt:"text" validate:"required_unless=Status draft,max=8000"`
	Wants                string     `json:"wants" crdt:"text" validate:"max=4000"`
	Urgency              string     `json:"urgency" validate:"required_unless=Status draft,omitempty,oneof=routine soon urgent"`
	Consent              string     `json:"consent" validate:"required_unless=Status draft,omitempty,oneof=not_asked given refused shared_without_consent"`
	ConsentJustification string     `json:"consent_justification" validate:"required_if=Consent shared_without_consent,max=2000"`
	ConsentDecidedBy     string     `json:"consent_decided_by" validate:"required_if=Consent shared_without_consent,omitempty,recordid"`
	Status               string     `json:"status" validate:"required,oneof=draft submitted accepted declined withdrawn closed"`
	Outcome              string     `json:"outcome" validate:"max=2000"`
	DeclineReason        string     `json:"decline_reason" validate:"required_if=Status declined,max=2000"`
	SubmittedAt          *time.Time `json:"submitted_at"`
	// ChasedAt is when the referring team last chased the service (the server
	// tells the service's practitioners again).
	ChasedAt       *time.Time `json:"chased_at"`
	WithdrawReason string     `json:"withdraw_reason" validate:"max=2000"`
}

// FollowUp is something somebody must do by a time.
type FollowUp struct {
	TeamID        string     `json:"team_id" validate:"required,recordid"`
	YoungPersonID string     `json:"young_person_id" validate:"omitempty,recordid"`
	ReferralID    string     `json:"referral_id" validate:"omitempty,recordid"`
	Assignee      string     `json:"assignee" validate:"required,recordid"`
	DueAt         *time.Time `json:"due_at" validate:"required"`
	Status        string     `json:"status" validate:"required,oneof=open done cancelled"`
	Kind          string     `json:"kind" validate:"omitempty,oneof=check_in referral_pickup appointment"`
	Note          string     `json:"note" crdt:"text" validate:"max=4000"`
}

// Service is a directory entry for a local service.
type Service struct {
	Name         string   `json:"name" validate:"required,max=120"`
	Kind         string   `json:"kind" validate:"required,oneof=housing camhs mental_health sexual_health social_care school_attendance youth_justice food_bank family_hub"`
	Contact      string   `json:"contact" validate:"max=200"`
	Hours        string   `json:"hours" validate:"max=200"`
	Pathway      string   `json:"pathway" crdt:"text" validate:"max=4000"`
	SharedFields []string `json:"shared_fields" crdt:"set" validate:"dive,oneof=young_person_id reason wants urgency consent status outcome known_as age_band"`
}

// FieldKind is the merge semantics of a field.
type FieldKind uint8

const (
	KindRegister FieldKind = 1 // multi-value register
	KindSet      FieldKind = 2 // add-wins observed-remove set
	KindCounter  FieldKind = 3 // map of counters
	KindText     FieldKind = 4 // sequence CRDT
)

func (k FieldKind) String() string {
	switch k {
	case KindRegister:
		return "register"
	case KindSet:
		return "set"
	case KindCounter:
		return "counter"
	case KindText:
		return "text"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Schema describes one record type.
type Schema struct {
	Type   string
	Fields map[string]FieldKind
	goType reflect.Type
}

// DeletedField is the register that tombstones a record (true) or restores it (false).
const DeletedField = "_deleted"

var (
	schemas = map[string]*Schema{}
	// StatusTransitions is the referral lifecycle: a status may only move along these edges.
	StatusTransitions = map[string][]string{
		"draft":     {"submitted", "withdrawn"},
		"submitted": {"accepted", "declined", "withdrawn"},
		"accepted":  {"closed", "withdrawn"},
		"declined":  {"closed"},
		"withdrawn": {"closed"},
		"closed":    {},
	}
)

func init() {
	for typ, v := range map[string]any{
		TypeEncounter: Encounter{}, TypeYoungPerson: YoungPerson{}, TypeReferral: Referral{},
		TypeFollowUp: FollowUp{}, TypeService: Service{},
	} {
		schemas[typ] = schemaOf(typ, reflect.TypeOf(v))
	}
}

func schemaOf(typ string, t reflect.Type) *Schema {
	s := &Schema{Type: typ, Fields: map[string]FieldKind{DeletedField: KindRegister}, goType: t}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		kind := KindRegister
		switch f.Tag.Get("crdt") {
		case "set":
			kind = KindSet
		case "counter":
			kind = KindCounter
		case "text":
			kind = KindText
		}
		s.Fields[name] = kind
	}
	return s
}

// SchemaFor returns the schema of a record type, or nil if the type is unknown.
func SchemaFor(typ string) *Schema { return schemas[typ] }

// RecordTypes lists the known record types in a stable order.
func RecordTypes() []string {
	out := make([]string, 0, len(schemas))
	for t := range schemas {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// validTallyKey accepts "<age band>/<gender>".
func validTallyKey(k string) bool {
	band, gender, ok := strings.Cut(k, "/")
	return ok && contains(AgeBands, band) && contains(Genders, gender)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FieldError is one rule a record breaks.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}
