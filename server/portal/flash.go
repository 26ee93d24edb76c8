package portal

// flashMessages are the only banners a redirect can ask for with ?done=:
// the query names a message, never carries its text, so a crafted link
// cannot put words of its choosing in the portal's own banner. Unknown keys
// show nothing.
var flashMessages = map[string]string{
	"revoked":            "Device revoked. It will wipe its data at its next contact.",
	"signed-off":         "Encounter signed off.",
	"already-signed-off": "This encounter was already signed off.",
	"resolved":           "Conflict resolved.",
	"restored":           "Record restored.",
	"saved":              "Saved.",
	"signed-out":         "You are signed out.",
	"erased":             "Records erased.",
	"accepted":           "Referral accepted.",
	"declined":           "Referral declined.",
	"release":            "Change released.",
	"discard":            "Change discarded.",
	"transfer-started":   "Transfer asked for. Nothing moves until a supervisor of the receiving team accepts it.",
	"transfer-accepted":  "Transfer accepted. The young person and their referrals and follow-ups are now with the receiving team.",
	"transfer-declined":  "Transfer declined.",
	"transfer-cancelled": "Transfer cancelled.",
	"merged":             "Profiles merged. Their encounters, referrals and follow-ups are now on this profile, and phones receive the change at their next sync.",
}

// flash is the banner for a ?done= key ("" for an unknown one).
func flash(key string) string { return flashMessages[key] }
