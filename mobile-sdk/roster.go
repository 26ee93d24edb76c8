package mobilesdk

// Workers returns the team roster as the server last sent it: the active
// workers and supervisors of this device's teams, a JSON array of
// {"id","name"} sorted by name, "[]" before the first sync. An app offers
// them as "workers present" at an encounter. The server sends only the
// device's own teams, and sends the roster again when it changes, so a
// worker who moved team or left is gone after the next sync.
func (c *Client) Workers() (string, error) {
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	v, err := st.Meta("roster")
	if err != nil || v == "" || v == "null" {
		return "[]", err
	}
	return v, nil
}
