// Package domain is the server's domain: the types every part of the server
// speaks (people, teams, services, devices, scopes, audit entries, quarantine
// items, sync requests and results), its error codes with the one map from
// code to HTTP status, and its pure rules (the authorisation policy, record
// ownership, lifecycle, working hours). It imports only the engine and the
// standard library: stores (server/sqlite), the HTTP API, the portal and
// push each own one outside thing and speak these types.
//
// Model: the root package of github.com/benbjohnson/wtf.
package domain

import (
	"encoding/json"
	"time"
)

// Roles.
const (
	RoleWorker       = "worker"
	RoleSupervisor   = "supervisor"
	RolePractitioner = "practitioner"
	RoleAdmin        = "admin"
)

type Area struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type Team struct {
	ID     string `json:"id"`
	AreaID string `json:"area_id"`
	Name   string `json:"name"`
}

// Service is a directory entry; SharedFields is its data-sharing agreement.
type Service struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Kind         string          `json:"kind"`
	Contact      string          `json:"contact"`
	Pathway      string          `json:"pathway"`
	TZ           string          `json:"tz"`
	Hours        json.RawMessage `json:"hours"`
	SharedFields []string        `json:"shared_fields"`
	Created      time.Time       `json:"created"`
	Updated      time.Time       `json:"updated"`
}

// Person is anyone who signs in or owns a device. PasswordHash is never serialised.
type Person struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Email        string          `json:"email,omitempty"`
	Role         string          `json:"role"`
	TeamID       string          `json:"team_id,omitempty"`
	ServiceID    string          `json:"service_id,omitempty"`
	TZ           string          `json:"tz"`
	Hours        json.RawMessage `json:"hours"`
	PasswordHash string          `json:"-"`
	FailedLogins int             `json:"-"`
	LockedUntil  time.Time       `json:"-"`
	Supervises   []string        `json:"supervises,omitempty"` // team ids (supervisors)
	// Deactivated is when the person left (zero: active). A deactivated
	// person cannot sign in by any path.
	Deactivated time.Time `json:"deactivated,omitempty"`
	// TOTPSecret is the person's second factor ("" not enrolled); never serialised.
	TOTPSecret string `json:"-"`
	// Lang is the language the person chose for the portal and their
	// notifications ("en", "cy"; "" not chosen: the browser's is used).
	// Only they set it (SetPersonLanguage); UpsertPerson leaves it alone.
	Lang string `json:"lang,omitempty"`
	// SafeguardingLead: the designated safeguarding lead, told of every high
	// or urgent concern at once (any role; usually a supervisor or admin).
	SafeguardingLead bool      `json:"safeguarding_lead,omitempty"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

// PeopleFilter narrows People; zero fields match everything.
type PeopleFilter struct {
	Role      string
	TeamID    string
	ServiceID string
}
