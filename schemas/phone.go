package schemas

import "github.com/nyaruka/phonenumbers"

// NormalizePhone returns a phone number in E.164 (+393331234567), the form
// that is keyed, so that one number gives one key however a source system
// wrote it: "+39 333 123 4567", "0039 333-1234567" and, for an Italian
// lead, "333 1234567" are one number. A number without its country code
// is read in the lead's country (contact.country). ok is false when the
// number cannot be told: no country code and no country, or not a possible
// number of its country (github.com/nyaruka/phonenumbers, Google's
// libphonenumber metadata); such a number is not keyed.
func NormalizePhone(raw, country string) (e164 string, ok bool) {
	region := country
	if region == "" {
		region = "ZZ" // unknown: only a number with its country code parses
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}
