package workload

import "math/rand/v2"

// step is the kind of an actor's next event.
type step uint8

const (
	stepBehavior step = iota
	stepLead
	stepConsent
)

// Consent event actions.
const (
	actGrant uint8 = iota
	actWithdraw
	actObject
	actErase
)

var actionNames = [...]string{"grant", "withdraw", "object", "erase"}

// actionWeights: grants, withdrawals, objections, a few erasures.
var actionWeights = []int{55, 25, 14, 6}

// special is a lead or consent event on an actor's timeline.
type special struct {
	ms       int64
	kind     step
	action   uint8
	resubmit bool // a later lead event of an already known lead
}

// actor is one lead's (or one unknown lead id's) timeline. Its events are
// drawn from its own PCG in its own time order, so what it says does not
// depend on how the actors interleave.
type actor struct {
	idx      int32
	orphan   bool // a lead id that never has a lead event
	nextKind step
	nsp, isp uint8
	sp       [5]special
	next     int64 // ms of the pending event
	rng      rand.PCG
	tLead    int64

	// behavior
	bNext    int64 // ms of the next behavior event, -1 when none is left
	gap      int64 // the longest pause between two events of the session
	sessLeft int32 // events after bNext in the current session
	preLeft  int32 // events of the pre-signup session not yet started
	post     int32 // behavior events after the lead event
	sessions int32
	sess     int32 // next post-signup session
	device   uint8 // the current session's browser: which anonymous id
	winStart int64
	winEnd   int64
	preWin   int64
}

func newActor(g *generator, i int) *actor {
	a := &actor{idx: int32(i), bNext: -1}
	a.rng.Seed(mix64(g.cfg.Seed), mix64(uint64(i)^0x5eed))
	r := &a.rng
	span := g.end - g.start
	if i >= g.cfg.Leads {
		a.orphan = true
		a.sp[0] = special{ms: between(r, g.start, g.end), kind: stepConsent, action: uint8(weighted(r, actionWeights))}
		a.nsp = 1
		a.pending()
		return a
	}
	a.preWin = min(3*24*3600*1000, span/10)
	a.tLead = between(r, g.start+a.preWin, g.start+span*9/10)
	a.sp[0] = special{ms: a.tLead, kind: stepLead}
	n := 1
	if percent(r, 6) {
		a.sp[n] = special{ms: between(r, a.tLead+(g.end-a.tLead)/10, g.end), kind: stepLead, resubmit: true}
		n++
	}
	if percent(r, 30) {
		for range 1 + weighted(r, []int{70, 22, 8}) {
			a.sp[n] = special{ms: between(r, a.tLead+60_000, g.end), kind: stepConsent, action: uint8(weighted(r, actionWeights))}
			n++
		}
	}
	// Insertion sort by time; the lead event is the earliest.
	for j := 1; j < n; j++ {
		for k := j; k > 1 && a.sp[k].ms < a.sp[k-1].ms; k-- {
			a.sp[k], a.sp[k-1] = a.sp[k-1], a.sp[k]
		}
	}
	a.winStart, a.winEnd = a.tLead+1000, g.end
	for j := 1; j < n; j++ {
		if a.sp[j].kind == stepConsent && a.sp[j].action == actErase {
			n = j + 1 // nothing after an erasure
			a.winEnd = a.sp[j].ms
			break
		}
	}
	a.nsp = uint8(n)

	// Behavior: a skewed count with mean BehaviorPerLead (the product of two
	// uniforms on [0, 2) has mean 1), some of it before the sign-up.
	f := float64(intn(r, 1<<20)) / (1 << 19)
	h := float64(intn(r, 1<<20)) / (1 << 19)
	u := float64(intn(r, 1<<20)) / (1 << 20)
	total := int32(float64(g.cfg.BehaviorPerLead*f*h) + u)
	if total > 0 && percent(r, 35) {
		a.preLeft = min(total, int32(1+intn(r, 6)))
	}
	a.post = total - a.preLeft
	if a.post > 0 {
		per := int32(2 + intn(r, 5))
		a.sessions = (a.post + per - 1) / per
	}
	a.startSession()
	a.pending()
	return a
}

// startSession places the next browsing session, if any is left: a burst of
// events seconds to minutes apart, inside its own slot of the lead's window,
// so that the lead's behavior times only grow.
func (a *actor) startSession() {
	r := &a.rng
	var k int32
	var slotStart, slotLen int64
	switch {
	case a.preLeft > 0:
		k, a.preLeft = a.preLeft, 0
		slotStart, slotLen = a.tLead-a.preWin, a.preWin
	case a.sess < a.sessions:
		j, s, w := int64(a.sess), int64(a.sessions), a.winEnd-a.winStart
		k = int32((j+1)*int64(a.post)/s - j*int64(a.post)/s)
		slotStart = a.winStart + j*w/s
		slotLen = (j+1)*w/s - j*w/s
		a.sess++
	default:
		a.bNext = -1
		return
	}
	half := slotLen / 2
	a.bNext = slotStart + int64n(r, half)
	a.gap = min(between(r, 5_000, 180_000), half/int64(k))
	a.sessLeft = k - 1
	a.device = 0
	if percent(r, 25) {
		a.device = 1
	}
}

// pending sets next and nextKind to the actor's earliest event and reports
// whether there is one.
func (a *actor) pending() bool {
	if a.isp < a.nsp && (a.bNext < 0 || a.sp[a.isp].ms <= a.bNext) {
		a.next, a.nextKind = a.sp[a.isp].ms, a.sp[a.isp].kind
		return true
	}
	if a.bNext >= 0 {
		a.next, a.nextKind = a.bNext, stepBehavior
		return true
	}
	return false
}

// advance moves past the event just rendered and reports whether another is
// pending.
func (a *actor) advance(g *generator) bool {
	if a.nextKind == stepBehavior {
		if a.sessLeft > 0 {
			a.sessLeft--
			a.bNext += between(&a.rng, a.gap/4, a.gap+1)
		} else {
			a.startSession()
		}
	} else {
		a.isp++
	}
	return a.pending()
}

// appendLeadID appends "lead-000123" (lead numbers start at 1; unknown lead
// ids continue after the last lead).
func (a *actor) appendLeadID(b []byte) []byte {
	n := uint64(a.idx) + 1
	b = append(b, "lead-"...)
	for d := uint64(100000); d > 1 && n < d; d /= 10 {
		b = append(b, '0')
	}
	return appendUint(b, n)
}

// appendAnonID appends the anonymous id of the current session's browser.
func (a *actor) appendAnonID(b []byte, seed uint64) []byte {
	h := mix64(seed ^ mix64(uint64(a.idx)<<1|uint64(a.device)))
	b = append(b, "anon-"...)
	for s := 60; s >= 0; s -= 4 {
		b = append(b, hexdigits[h>>uint(s)&0xf])
	}
	return b
}
