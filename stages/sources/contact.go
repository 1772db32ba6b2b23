package sources

import (
	"strings"
	"time"

	"github.com/leadpipe/leadpipe/schemas"
)

// contactField is a field of schemas.Contact that a platform's field
// names map to (metaFields, googleFields, linkedInFields).
type contactField int

const (
	fieldEmail contactField = iota + 1
	fieldPhone
	fieldFirstName
	fieldLastName
	fieldFullName
	fieldCompany
	fieldJobTitle
	fieldCountry
	fieldBirthDate
)

// contactBuilder gathers a contact from a platform's fields, the same way
// for every platform: the first email and phone win, a full name is split
// at its last space when no first or last name is given, a country is
// kept only as two letters, a birth date only as a date.
type contactBuilder struct {
	c    schemas.Contact
	full string
}

func (b *contactBuilder) set(f contactField, v string) {
	v = strings.TrimSpace(v)
	switch f {
	case fieldEmail:
		b.c.Email = or(b.c.Email, v)
	case fieldPhone:
		b.c.Phone = or(b.c.Phone, v)
	case fieldFirstName:
		b.c.FirstName = v
	case fieldLastName:
		b.c.LastName = v
	case fieldFullName:
		b.full = v
	case fieldCompany:
		b.c.Company = v
	case fieldJobTitle:
		b.c.JobTitle = v
	case fieldCountry:
		if len(v) == 2 {
			b.c.Country = strings.ToUpper(v)
		}
	case fieldBirthDate:
		b.c.BirthDate = birthDate(v)
	}
}

// contact returns the contact gathered, nil when it holds nothing beyond
// base (what the platform says of every lead, such as is_business).
func (b *contactBuilder) contact(base schemas.Contact) *schemas.Contact {
	c := b.c
	c.IsBusiness = base.IsBusiness
	if b.full != "" && c.FirstName == "" && c.LastName == "" {
		c.FirstName = b.full
		if i := strings.LastIndexByte(b.full, ' '); i > 0 {
			c.FirstName, c.LastName = b.full[:i], b.full[i+1:]
		}
	}
	if c == base {
		return nil
	}
	return &c
}

// inEra reports whether t, in UTC, is a time an event can carry: from
// 1970 to 9999. A platform's time out of it (Unix seconds in the far
// future, year 0000 with a positive offset) would make an event that no
// JSON encoder writes (FuzzFromMeta found one).
func inEra(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1970 && y <= 9999
}
