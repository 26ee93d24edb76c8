package domain

// PolicyCache is the policy's view of the people and teams a transaction's
// changesets name (consent deciders, assignees, teams of new records), each
// read once per transaction. Both stores' appliers keep one; the reads
// themselves are the store's, passed in.
type PolicyCache struct {
	actors map[string]*Actor
	teams  map[string]bool
}

// Actor is the server's view of a person named in a record: nil if the
// server does not know them. scopeOf reads their current scope and answers
// ENOTFOUND for an unknown person.
func (c *PolicyCache) Actor(personID string, scopeOf func(personID string) (Scope, error)) (*Actor, error) {
	if personID == "" {
		return nil, nil
	}
	if act, ok := c.actors[personID]; ok {
		return act, nil
	}
	var act *Actor
	s, err := scopeOf(personID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
	case err != nil:
		return nil, err
	default:
		x := ActorOf(s, nil)
		act = &x
	}
	if c.actors == nil {
		c.actors = map[string]*Actor{}
	}
	c.actors[personID] = act
	return act, nil
}

// TeamExists reports whether the organisation has the team, asking exists
// once per team.
func (c *PolicyCache) TeamExists(id string, exists func(id string) (bool, error)) (bool, error) {
	if id == "" {
		return false, nil
	}
	if ok, seen := c.teams[id]; seen {
		return ok, nil
	}
	ok, err := exists(id)
	if err != nil {
		return false, err
	}
	if c.teams == nil {
		c.teams = map[string]bool{}
	}
	c.teams[id] = ok
	return ok, nil
}
