package workload

// consent writes a consent event: a grant, a withdrawal, an objection or an
// erasure request, for one purpose or "all".
func (g *generator) consent(w *jw, a *actor) eventFacts {
	r := &a.rng
	sp := a.sp[a.isp]
	var ef eventFacts
	ef.id = a.appendLeadID(g.key[:0])

	w.begin()
	w.str("type", "consent")
	ef.eventID = g.appendEventID(g.eventID[:0])
	w.raw("event_id", ef.eventID)
	w.ts("occurred_at", a.next)
	w.raw("lead_id", ef.id)

	purpose := purposes[weighted(r, purposeWeights)]
	allPct := 25
	if sp.action == actGrant {
		allPct = 5
	}
	if sp.action == actErase || percent(r, allPct) {
		purpose = "all"
	}
	w.str("purpose", purpose)
	w.str("action", actionNames[sp.action])

	var method, point string
	switch sp.action {
	case actGrant:
		method = pick(r, []string{"pref_center", "double_opt_in", "email_link", "checkbox"})
		point = pick(r, []string{"/account/preferences", "/lp/newsletter-sconto-10", "/checkout"})
	case actWithdraw:
		method = pick(r, []string{"unsubscribe_link", "pref_center", "email_reply"})
		point = pick(r, []string{"/unsubscribe", "/account/preferences", "mailbox:privacy"})
	case actObject:
		method = pick(r, []string{"email_reply", "phone_call", "pref_center", "letter"})
		point = pick(r, []string{"mailbox:privacy", "call-center", "/account/preferences"})
	default:
		method = pick(r, []string{"dsar_portal", "email_request", "letter"})
		point = pick(r, []string{"/privacy/requests", "mailbox:dpo", "registered-mail"})
	}
	if point[0] == '/' {
		point = "https://" + g.cfg.Domain + point
	}
	// Now and then a grant arrives without a field that makes it count.
	missing := -1
	if sp.action == actGrant && percent(r, 10) {
		missing = intn(r, 3)
	}
	if missing != 0 {
		w.str("method", method)
	}
	if missing != 2 {
		w.str("collection_point", point)
	}
	if missing != 1 {
		w.str("text_version", pick(r, textVersions))
	}
	if missing != 2 {
		w.str("proof_ref", proofRef(r))
	}
	w.end()
	return ef
}
