package i18n

// English: the keys are English already; this catalogue holds only what
// the key alone cannot say (plural forms) and raw values English words
// differently from their spelling.
func init() {
	register(English, Messages{Text: enText, Plural: enPlural})
}

var enText = map[string]string{
	"not-said":   "prefer not to say",
	"under-11":   "under 11",
	"camhs":      "CAMHS",
	"not asked":  "not asked yet",
	"signed off": "signed off",
}

var enPlural = map[string]Plural{
	"%d minutes":                            {One: "%d minute", Other: "%d minutes"},
	"%d hours":                              {One: "%d hour", Other: "%d hours"},
	"%d days":                               {One: "%d day", Other: "%d days"},
	"%d encounters":                         {One: "%d encounter", Other: "%d encounters"},
	"%d referrals":                          {One: "%d referral", Other: "%d referrals"},
	"%d follow-ups":                         {One: "%d follow-up", Other: "%d follow-ups"},
	"%d young people":                       {One: "%d young person", Other: "%d young people"},
	"%d sessions":                           {One: "%d session", Other: "%d sessions"},
	"%d conflicts":                          {One: "%d conflict", Other: "%d conflicts"},
	"%d possible pairs.":                    {One: "%d possible pair.", Other: "%d possible pairs."},
	"%d possible duplicate pairs to review": {One: "%d possible duplicate pair to review", Other: "%d possible duplicate pairs to review"},
	"%d contacts":                           {One: "%d contact", Other: "%d contacts"},
	"%d matches in your teams' records. Searches are recorded in the audit log.": {
		One: "%d match in your teams' records. Searches are recorded in the audit log.", Other: "%d matches in your teams' records. Searches are recorded in the audit log."},
	"%d concerns are waiting for a supervisor to acknowledge them.": {Zero: "No concern is waiting for acknowledgement.",
		One: "%d concern is waiting for a supervisor to acknowledge it.", Other: "%d concerns are waiting for a supervisor to acknowledge them."},
	"%d safeguarding concerns are waiting for acknowledgement": {
		One: "%d safeguarding concern is waiting for acknowledgement", Other: "%d safeguarding concerns are waiting for acknowledgement"},
	"%d young people are under a safeguarding hold.": {
		One: "%d young person is under a safeguarding hold.", Other: "%d young people are under a safeguarding hold."},
	"%d records have fields two phones changed without seeing each other's change, or over their size limit.": {
		One:   "%d record has fields two phones changed without seeing each other's change, or over their size limit.",
		Other: "%d records have fields two phones changed without seeing each other's change, or over their size limit."},
	"The next run will remove %d records": {One: "The next run will remove %d record", Other: "The next run will remove %d records"},
	"Imported %d people. Issue each a set-password link from their page.": {
		One: "Imported %d person. Issue them a set-password link from their page.", Other: "Imported %d people. Issue each a set-password link from their page."},
	"Dry run: %d rows need fixing; nothing was saved": {One: "Dry run: %d row needs fixing; nothing was saved", Other: "Dry run: %d rows need fixing; nothing was saved"},
	"also names %d other young people":                {One: "also names %d other young person", Other: "also names %d other young people"},
	"Every person and phone that received or opened any of the %d records about this young person, from the audit log: phone downloads (each sync lists the records it carried), portal pages and exports.": {
		One:   "Every person and phone that received or opened the %d record about this young person, from the audit log: phone downloads (each sync lists the records it carried), portal pages and exports.",
		Other: "Every person and phone that received or opened any of the %d records about this young person, from the audit log: phone downloads (each sync lists the records it carried), portal pages and exports."},
}
