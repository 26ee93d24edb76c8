package syncengine

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Two workers who meet the same young person may each create a profile.
// These rules flag such pairs, the same on phones (at save) and on the
// server (the supervisors' lists); a supervisor then merges them
// (server/domain.Merge).

// MergedInto is the profile a young person was merged into ("" if none).
func MergedInto(r *Record) string {
	if r == nil || r.Type != TypeYoungPerson {
		return ""
	}
	return r.String("merged_into")
}

// MergedFrom lists the profiles among profiles merged into id, directly or
// through a chain (A into B, then B into C: both for C), nearest first. A
// phone offline during a merge may still write about a merged profile, so
// the kept profile's chronology holds theirs too (the portal's and the
// phone's).
func MergedFrom(profiles []*Record, id string) []string {
	children := map[string][]string{}
	for _, r := range profiles {
		if to := MergedInto(r); to != "" {
			children[to] = append(children[to], string(r.ID))
		}
	}
	var out []string
	seen := map[string]bool{id: true}
	for queue := []string{id}; len(queue) > 0; queue = queue[1:] {
		for _, ch := range children[queue[0]] {
			if !seen[ch] {
				seen[ch] = true
				out = append(out, ch)
				queue = append(queue, ch)
			}
		}
	}
	return out
}

// foldName is a name as the duplicate check compares it: lower case,
// letters and digits only ("Zoe-Lee " and "zoe lee" are the same; an accent
// is one letter's difference, which similarNames allows).
func foldName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// nameWords are a name's words, folded ("Zoe-Lee M." is zoe, lee, m).
func nameWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		out = append(out, foldName(w))
	}
	return out
}

// similarWord: the same word, or one typing slip apart (two in a long
// word). Short words must match exactly: "Al" and "Ali" are different people.
func similarWord(a, b string) bool {
	if a == b {
		return a != ""
	}
	n := min(utf8.RuneCountInString(a), utf8.RuneCountInString(b))
	switch {
	case n < 4:
		return false
	case n < 8:
		return editDistance(a, b) <= 1
	}
	return editDistance(a, b) <= 2
}

// nameParts is a known-as name folded once for comparing.
type nameParts struct {
	full  string
	words []string
}

func partsOf(s string) nameParts { return nameParts{full: foldName(s), words: nameWords(s)} }

// similarNames compares known-as names: the first names must be similar;
// when both give more (a surname or an initial), that must agree too ("Ash
// H" and "Ash D" are two people; "Jayden" and "Jaydon M" may be one).
func similarNames(a, b string) bool { return similarParts(partsOf(a), partsOf(b)) }

func similarParts(a, b nameParts) bool {
	if a.full == "" || b.full == "" {
		return false
	} else if a.full == b.full {
		return true
	}
	wa, wb := a.words, b.words
	if d := len(wa[0]) - len(wb[0]); d > 8 || d < -8 {
		return false // more than two slips apart, in any encoding
	}
	if !similarWord(wa[0], wb[0]) {
		return false
	}
	if len(wa) == 1 || len(wb) == 1 {
		return true
	}
	ra, rb := strings.Join(wa[1:], ""), strings.Join(wb[1:], "")
	if utf8.RuneCountInString(ra) == 1 || utf8.RuneCountInString(rb) == 1 {
		return []rune(ra)[0] == []rune(rb)[0]
	}
	return similarWord(ra, rb)
}

// dupKey is what the duplicate check compares of a profile, read once:
// decoding a record's fields costs more than comparing them.
type dupKey struct {
	rec              *Record
	team, area, band string
	name             string
	parts            nameParts
}

// dupKeyOf is r's key; false if r can never be a duplicate (not a young
// person, deleted, erased or merged).
func dupKeyOf(r *Record) (dupKey, bool) {
	if r == nil || r.Type != TypeYoungPerson || r.Deleted() || r.Erased != nil || MergedInto(r) != "" {
		return dupKey{}, false
	}
	name := r.String("known_as")
	return dupKey{rec: r, team: r.String("team_id"), area: foldName(r.String("area")), band: r.String("age_band"),
		name: name, parts: partsOf(name)}, true
}

func (a dupKey) like(b dupKey) bool {
	switch {
	case a.rec.ID == b.rec.ID || a.team != b.team || a.area != b.area:
		return false
	case a.band != "" && b.band != "" && a.band != b.band:
		return false
	}
	return similarParts(a.parts, b.parts)
}

// LikelyDuplicates reports whether two young people's profiles probably
// describe the same person: similar known-as names, the same age band (or
// one not recorded) and the same area, in the same team. Merged, erased and
// deleted profiles are never duplicates.
func LikelyDuplicates(a, b *Record) bool {
	ka, ok := dupKeyOf(a)
	if !ok {
		return false
	}
	kb, ok := dupKeyOf(b)
	return ok && ka.like(kb)
}

// DuplicatePairs lists the likely duplicate pairs among young people, each
// pair once, the older profile first, pairs in order of the older's name.
func DuplicatePairs(yps []*Record) [][2]*Record {
	// Only profiles of the same team and area can match: compare within
	// those groups, not every pair of the organisation.
	groups := map[string][]dupKey{}
	for _, r := range yps {
		if k, ok := dupKeyOf(r); ok {
			g := k.team + "\x00" + k.area
			groups[g] = append(groups[g], k)
		}
	}
	type pair struct {
		a, b dupKey
	}
	var found []pair
	for _, g := range groups {
		for i := range g {
			for j := i + 1; j < len(g); j++ {
				if g[i].like(g[j]) {
					a, b := g[i], g[j]
					if b.rec.Created < a.rec.Created || (b.rec.Created == a.rec.Created && b.rec.ID < a.rec.ID) {
						a, b = b, a
					}
					found = append(found, pair{a, b})
				}
			}
		}
	}
	sort.Slice(found, func(i, j int) bool {
		if x, y := found[i].a.name, found[j].a.name; x != y {
			return x < y
		}
		if found[i].a.rec.ID != found[j].a.rec.ID {
			return found[i].a.rec.ID < found[j].a.rec.ID
		}
		return found[i].b.rec.ID < found[j].b.rec.ID
	})
	out := make([][2]*Record, len(found))
	for i, p := range found {
		out[i] = [2]*Record{p.a.rec, p.b.rec}
	}
	return out
}
