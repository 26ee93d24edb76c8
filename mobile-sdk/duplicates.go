package mobilesdk

import (
	"encoding/json"

	"github.com/joinedup/joinedup/mobile-sdk/localstore"
	"github.com/joinedup/joinedup/syncengine"
)

// PossibleDuplicates returns the profiles on this phone that are probably
// the same young person as youngPersonID (syncengine.LikelyDuplicates:
// similar known-as, same age band and area, same team), as a JSON array of
// record views. An app calls it after saving a profile to ask the worker
// "is this the same young person as …?"; the worker's supervisor merges
// duplicates in the portal, and the merge reaches the phone by sync.
func (c *Client) PossibleDuplicates(youngPersonID string) (string, error) {
	yp, err := c.record("possible duplicates", youngPersonID)
	if err != nil {
		return "", err
	}
	st, _, err := c.state(false)
	if err != nil {
		return "", err
	}
	others, err := st.Find(localstore.Query{Type: syncengine.TypeYoungPerson, Live: true, Order: localstore.ByID})
	if err != nil {
		return "", err
	}
	out := []syncengine.View{}
	for _, r := range others {
		if string(r.ID) != youngPersonID && syncengine.LikelyDuplicates(yp, r) {
			out = append(out, r.View(nil))
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}
