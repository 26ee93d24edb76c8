package syncengine

// Hand-written matchers for the engine's three fixed patterns. The engine
// runs in the field app's browser build too, where package regexp (with the
// Unicode tables its \p classes pull in) was an eighth of the compressed
// bundle every phone downloads. patterns_test.go checks each against the
// regular expression it replaces.

// validFieldName matches ^[a-z_][a-z0-9_]{0,63}$: field names and the names
// of record types without a schema.
func validFieldName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && isDigit(c)) {
			return false
		}
	}
	return true
}

// ValidRecordID reports whether s may be used as a record id:
// ^[A-Za-z0-9_-]{1,64}$.
func ValidRecordID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// hasCoords reports whether s contains what looks like a latitude and
// longitude: -?\d{1,3}\.\d{3,}\s*,\s*-?\d{1,3}\.\d{3,} anywhere (\s being
// RE2's [\t\n\f\r ]). Only ASCII bytes take part, and no byte of a
// multi-byte UTF-8 sequence is ASCII, so scanning bytes finds exactly what
// the regular expression finds.
func hasCoords(s string) bool {
	for i := 1; i < len(s); i++ {
		// The first number: unanchored, so one digit before the point will
		// do (a longer run has a match starting at its last digits).
		if s[i] != '.' || !isDigit(s[i-1]) {
			continue
		}
		// Its decimals must run up to the spaces or comma: at least three.
		j := skipDigits(s, i+1)
		if j-(i+1) < 3 {
			continue
		}
		j = skipSpaces(s, j)
		if j == len(s) || s[j] != ',' {
			continue
		}
		j = skipSpaces(s, j+1)
		if j < len(s) && s[j] == '-' {
			j++
		}
		// The second number starts here: one to three digits, the point,
		// at least three decimals.
		k := skipDigits(s, j)
		if n := k - j; n < 1 || n > 3 || k == len(s) || s[k] != '.' {
			continue
		}
		if skipDigits(s, k+1)-(k+1) >= 3 {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipDigits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\f' || s[i] == '\r') {
		i++
	}
	return i
}
