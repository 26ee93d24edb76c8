package i18n

// Welsh for the refusals the server's domain rules build (domain.Errorf):
// the portal words them from their English format and arguments. Kept apart
// from cy.go so the rules' messages and the pages' strings can be reviewed
// separately; TestDomainRefusalsInWelsh (server/portal) fails on a rule's
// message missing here.
func init() {
	register(Welsh, Messages{Text: cyRefusals})
}

var cyRefusals = map[string]string{
	// People, teams, services (domain/staff.go).
	"enter the person's name":                                                                  "rhowch enw'r person",
	"the name is longer than 120 characters":                                                   "mae'r enw yn hwy na 120 nod",
	"choose a role: worker, supervisor, practitioner or admin":                                 "dewiswch rôl: gweithiwr ieuenctid, goruchwyliwr, ymarferydd neu weinyddwr",
	"%q is not an e-mail address":                                                              "nid yw %q yn gyfeiriad e-bost",
	"%s is already the e-mail address of another person":                                       "mae %s eisoes yn gyfeiriad e-bost person arall",
	"a %s signs in to the portal and needs an e-mail address":                                  "mae %s yn mewngofnodi i'r porth ac mae angen cyfeiriad e-bost arno",
	"there is no team %q":                                                                      "nid oes tîm %q",
	"there is no team %q to supervise":                                                         "nid oes tîm %q i'w oruchwylio",
	"a worker belongs to a team; choose one":                                                   "mae gweithiwr ieuenctid yn perthyn i dîm; dewiswch un",
	"only a supervisor supervises teams":                                                       "dim ond goruchwyliwr sy'n goruchwylio timau",
	"a supervisor supervises at least one team; choose their team or the teams they supervise": "mae goruchwyliwr yn goruchwylio o leiaf un tîm; dewiswch ei dîm neu'r timau y mae'n eu goruchwylio",
	"a practitioner works for a service; choose one":                                           "mae ymarferydd yn gweithio i wasanaeth; dewiswch un",
	"there is no service %q":                                                                   "nid oes gwasanaeth %q",
	"%q is not a time zone (for example Europe/London)":                                        "nid yw %q yn gylchfa amser (er enghraifft Europe/London)",
	"the working hours could not be read":                                                      "nid oedd modd darllen yr oriau gwaith",
	"day %d is not a day of the week":                                                          "nid yw diwrnod %d yn ddiwrnod o'r wythnos",
	"%s: write times as HH:MM":                                                                 "%s: ysgrifennwch amseroedd fel HH:MM",
	"%s: %s–%s ends before it starts":                                                          "%s: mae %s–%s yn gorffen cyn iddo ddechrau",
	"%s: %s–%s overlaps %s–%s":                                                                 "%s: mae %s–%s yn gorgyffwrdd â %s–%s",
	"enter the team's name":                                                                    "rhowch enw'r tîm",
	"choose the team's area":                                                                   "dewiswch ardal y tîm",
	"there is already a team called %s":                                                        "mae tîm o'r enw %s eisoes",
	"enter the service's name":                                                                 "rhowch enw'r gwasanaeth",
	"the agreement names %q, which is not a field a service can be sent":                       "mae'r cytundeb yn enwi %q, nad yw'n faes y gellir ei anfon at wasanaeth",
	"Sunday":    "Dydd Sul",
	"Monday":    "Dydd Llun",
	"Tuesday":   "Dydd Mawrth",
	"Wednesday": "Dydd Mercher",
	"Thursday":  "Dydd Iau",
	"Friday":    "Dydd Gwener",
	"Saturday":  "Dydd Sadwrn",

	// Accounts and devices (domain/accountrules.go, domain/device.go).
	"unknown purpose %q":      "diben anhysbys %q",
	"%s has been deactivated": "mae %s wedi'i ddadactifadu",
	"this link has expired or has already been used; ask an admin for a new one": "mae'r ddolen hon wedi dod i ben neu wedi'i defnyddio eisoes; gofynnwch i weinyddwr am un newydd",
	"%s was already deactivated":                             "roedd %s wedi'i ddadactifadu eisoes",
	"you cannot deactivate yourself; ask another admin":      "ni allwch ddadactifadu eich hun; gofynnwch i weinyddwr arall",
	"that code has already been used; wait for the next one": "mae'r cod hwnnw wedi'i ddefnyddio eisoes; arhoswch am yr un nesaf",
	"only supervisors and admins issue enrolment codes":      "dim ond goruchwylwyr a gweinyddwyr sy'n rhoi codau cofrestru",
	"that person is not in a team you supervise":             "nid yw'r person hwnnw mewn tîm yr ydych yn ei oruchwylio",
	"that supervisor has teams you do not supervise":         "mae gan y goruchwyliwr hwnnw dimau nad ydych yn eu goruchwylio",
	"only an admin issues enrolment codes for a %s":          "dim ond gweinyddwr sy'n rhoi codau cofrestru i %s",

	// Merging duplicates (domain/merge.go).
	"only two young people's profiles can be merged":                 "dim ond proffiliau dau berson ifanc y gellir eu cyfuno",
	"a profile cannot be merged into itself":                         "ni ellir cyfuno proffil ag ef ei hun",
	"an erased or deleted profile cannot be merged":                  "ni ellir cyfuno proffil sydd wedi'i ddileu",
	"one of these profiles has already been merged":                  "mae un o'r proffiliau hyn wedi'i gyfuno eisoes",
	"both profiles must belong to the same team: transfer one first": "rhaid i'r ddau broffil berthyn i'r un tîm: trosglwyddwch un yn gyntaf",
	"give a reason for the merge (5 to 1000 characters)":             "rhowch reswm dros gyfuno (5 i 1000 nod)",

	// Transfers (domain/transfer.go).
	"the young person is already in that team":                                       "mae'r person ifanc yn y tîm hwnnw eisoes",
	"a transfer of this young person is already waiting for a decision":              "mae trosglwyddiad y person ifanc hwn eisoes yn aros am benderfyniad",
	"this transfer was already %s":                                                   "roedd y trosglwyddiad hwn eisoes %s",
	"decision must be accept, decline or cancel":                                     "rhaid i'r penderfyniad fod yn derbyn, gwrthod neu ganslo",
	"the young person's records were erased since the transfer was asked for":        "mae cofnodion y person ifanc wedi'u dileu ers gofyn am y trosglwyddiad",
	"the young person is no longer filed under the team the transfer was asked from": "nid yw'r person ifanc wedi'i ffeilio mwyach dan y tîm y gofynnwyd am y trosglwyddiad ohono",

	// Erasure and retention (domain/erasure.go, domain/retention.go).
	"an erasure needs a reason": "mae angen rheswm dros ddileu",
	"record %s is under a legal hold: the hold must be lifted before it can be erased": "mae cofnod %s dan ddaliad cyfreithiol: rhaid codi'r daliad cyn y gellir ei ddileu",
	"record type %q has no retention schedule (encounter, referral, follow_up)":        "nid oes amserlen gadw i'r math o gofnod %q (encounter, referral, follow_up)",
	"keep_days must be 30 to 36500 days":                                               "rhaid i keep_days fod rhwng 30 a 36500 diwrnod",
	"a legal hold needs a record and a reason":                                         "mae angen cofnod a rheswm ar gyfer daliad cyfreithiol",

	// Saved filters (domain/savedfilter.go).
	"a saved filter belongs to a person":   "mae hidlydd wedi'i gadw yn perthyn i berson",
	"filters of this list cannot be saved": "ni ellir cadw hidlyddion y rhestr hon",
	"name the filter (1 to 60 characters)": "enwch yr hidlydd (1 i 60 nod)",
	"the filter could not be read":         "nid oedd modd darllen yr hidlydd",
	"the filter is too long to save":       "mae'r hidlydd yn rhy hir i'w gadw",

	// Quarantine review (domain/quarantine.go).
	"resolution must be release or discard": "rhaid i'r penderfyniad fod yn rhyddhau neu'n taflu",
	"already reviewed":                      "wedi'i adolygu eisoes",
	"this change was too large to keep (%d bytes), so it cannot be released; discard it":             "roedd y newid hwn yn rhy fawr i'w gadw (%d beit), felly ni ellir ei ryddhau; taflwch ef",
	"this change does not decode; discard it":                                                        "nid oes modd datgodio'r newid hwn; taflwch ef",
	"the device that sent this change is no longer active, so nothing can be released on its behalf": "nid yw'r ddyfais a anfonodd y newid hwn yn weithredol mwyach, felly ni ellir rhyddhau dim ar ei rhan",
	"the changes it depends on have still not arrived":                                               "nid yw'r newidiadau y mae'n dibynnu arnynt wedi cyrraedd o hyd",

	"you may not discard this change: the records it writes are no longer filed under your teams, and its sender is not in them": "ni chewch daflu'r newid hwn: nid yw'r cofnodion y mae'n eu hysgrifennu wedi'u ffeilio o dan eich timau mwyach, ac nid yw ei anfonwr ynddynt",

	// Error codes, as the quarantine list names a refusal's kind.
	"forbidden":          "gwaharddedig",
	"invalid":            "annilys",
	"too large":          "rhy fawr",
	"malformed":          "wedi'i ffurfio'n wael",
	"missing dependency": "newid coll y mae'n dibynnu arno",
	"erased":             "wedi'i ddileu",
	"not found":          "heb ei ganfod",
	"unauthorized":       "heb awdurdod",
	"held limit":         "terfyn newidiadau yn aros",

	// Audit actions (domain.Action*), as the audit log names them.
	"deactivate":    "dadactifadu",
	"password link": "dolen cyfrinair",
	"password set":  "cyfrinair wedi'i osod",
	"unlock":        "datgloi",
	"end sessions":  "dod â sesiynau i ben",
	"two factor":    "ail ffactor",
	"transfer":      "trosglwyddo",

	// What a phone's requests can be refused with (the field app asks for
	// its language: server/api's ErrorHandler).
	"enrolment code is not valid (unknown, used or expired)":                     "nid yw'r cod cofrestru yn ddilys (anhysbys, wedi'i ddefnyddio neu wedi dod i ben)",
	"device credential required":                                                 "mae angen manylion adnabod y ddyfais",
	"unknown device credential":                                                  "nid yw'r gweinydd yn adnabod y ddyfais hon",
	"this device has been revoked and must wipe its data":                        "mae'r ddyfais hon wedi'i diddymu a rhaid iddi ddileu ei data",
	"workers present at an encounter must be workers or supervisors of its team": "rhaid i'r gweithwyr a oedd yno fod yn weithwyr ieuenctid neu'n oruchwylwyr tîm y cyfarfod",
}
