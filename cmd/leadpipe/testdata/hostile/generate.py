# Writes corpus.jsonl, the hostile input of TestHostileInputThroughTheRunningPipeline:
# one line per case, {"name", "topic", "key", "value" or "value_b64", "expect"}.
# expect: lead:<the lead's final decision>, consent:<the consent's own decision>, duplicate, behavior, dlq:<reason part>,
# burst100:<expect> (sent 100 times). Personal fields hold a canary, Zq<NNN>k, that must
# appear nowhere but the dead-letter topic's copies. Run: python3 generate.py
import base64, json, os
T0 = "2026-11-10T12:00:00Z"
out = []
n = [0]
def canary():
    n[0] += 1
    return "Zq%03dk" % n[0]
def add(name, topic, key, value, expect):
    e = {"name": name, "topic": topic, "key": key, "expect": expect}
    if isinstance(value, bytes):
        e["value_b64"] = base64.b64encode(value).decode()
    else:
        e["value"] = value
    out.append(e)
def lead(lid, eid, contact=None, source=None, extra="", at=T0):
    parts = ['"type":"lead"', '"event_id":%s' % json.dumps(eid), '"occurred_at":%s' % json.dumps(at), '"lead_id":%s' % json.dumps(lid)]
    if contact is not None: parts.append('"contact":' + json.dumps(contact, ensure_ascii=False))
    parts.append('"source":' + json.dumps(source if source is not None else {"kind": "web_form", "url": "https://shop.example.com/signup"}))
    if extra: parts.append(extra)
    return "{" + ",".join(parts) + "}"
def person(**kw):
    c = canary()
    d = {"email": c.lower()+"@example.com", "first_name": "Anna"+c, "last_name": "Rossi"+c, "country": "IT"}
    d.update(kw)
    return d

# Injection strings in every personal text field: accepted, never echoed anywhere.
inj = {"sql": "'); DROP TABLE leads; --", "formula": "=HYPERLINK(\"http://evil.example\",\"x\")", "plus": "+SUM(1;1)", "at": "@cmd|' /C calc'!A0",
       "xss": "<script>alert(1)</script>", "tab": "\tNAME\r\n", "shell": "$(rm -rf /)", "ldap": "*)(uid=*))(|(uid=*"}
for field in ["first_name", "last_name", "company", "job_title"]:
    for kind, s in inj.items():
        c = canary()
        lid = "H-%s-%s" % (field, kind)
        add("%s in %s" % (kind, field), "leads.raw", lid, lead(lid, "h-"+lid, person(**{field: s + c})), "lead:accepted")
# Injection in fields that land in ClickHouse as data (campaign): lands verbatim, safely.
lid = "H-campaign-sql"
add("SQL in utm_campaign lands as data", "leads.raw", lid, lead(lid, "h-"+lid, person(), {"kind": "web_form", "url": "https://shop.example.com/?utm_source=news&utm_medium=email&utm_campaign=x%27%29%3B%20DROP%20TABLE%20leads%3B--"}), "lead:accepted")
lid = "H-emoji"
add("emoji and right-to-left text in names", "leads.raw", lid, lead(lid, "h-"+lid, person(first_name="Ànna 👩‍💻 "+canary(), last_name="رُسّي"+canary())), "lead:accepted")
lid = "H-lookalike"
add("a look-alike address (Cyrillic a) is another key", "leads.raw", lid, lead(lid, "h-"+lid, person(email="аnna.o1@example.com")), "lead:accepted")

# Objector, then re-imports in other forms: suppressed.
add("objector", "leads.raw", "H-O1", lead("H-O1", "h-o1", person(email="objector@example.com")), "lead:suppressed")
add("its objection", "consents.raw", "H-O1", '{"type":"consent","event_id":"h-o1-obj","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-O1","purpose":"all","action":"object","method":"email_reply"}', "consent:suppressed")
for i, addr in enumerate(["Objector+promo@Example.COM", " objector@example.com ", "OBJECTOR@EXAMPLE.COM"]):
    lid = "H-O1-re%d" % i
    add("re-import of the objector as %r" % addr, "leads.raw", lid, lead(lid, "h-"+lid, person(email=addr), at="2026-11-11T12:00:00Z"), "lead:suppressed")
# Erased lead and behavior after it.
add("to be erased", "leads.raw", "H-E1", lead("H-E1", "h-e1", person()), "lead:erased")
add("its erasure", "consents.raw", "H-E1", '{"type":"consent","event_id":"h-e1-erase","occurred_at":"2026-11-10T14:00:00Z","lead_id":"H-E1","purpose":"all","action":"erase","proof_ref":"ticket-1"}', "consent:erased")
add("behavior of the erased lead lands anonymous", "behavior.raw", "H-E1", '{"type":"behavior","event_id":"h-e1-b1","occurred_at":"2026-11-10T15:00:00Z","lead_id":"H-E1","action":"page_view"}', "behavior")
add("behavior of an unknown lead", "behavior.raw", "H-unknown", '{"type":"behavior","event_id":"h-unknown-b1","occurred_at":"2026-11-10T15:00:00Z","lead_id":"H-unknown","action":"page_view"}', "behavior")
c = canary()
add("an email address in a behavior URL never lands", "behavior.raw", "anon-h1", '{"type":"behavior","event_id":"h-url-pii","occurred_at":"2026-11-10T15:00:00Z","anonymous_id":"anon-h1","action":"page_view","url":"https://shop.example.com/?email=%s%%40example.com&name=%s"}' % (c, c), "behavior")
add("SQL in a product category lands as data", "behavior.raw", "anon-h2", '{"type":"behavior","event_id":"h-cat-sql","occurred_at":"2026-11-10T15:00:00Z","anonymous_id":"anon-h2","action":"product_view","product":{"id":"p1","category":"toys\'); DROP TABLE behavior_events; --"}}', "behavior")
# Consent and withdrawal at the same instant: the withdrawal wins.
add("lead for the tie", "leads.raw", "H-T1", lead("H-T1", "h-t1", person()), "lead:accepted")
add("grant at 13:00", "consents.raw", "H-T1", '{"type":"consent","event_id":"h-t1-g","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-T1","purpose":"email_marketing","action":"grant","method":"checkbox","text_version":"v3","proof_ref":"p-t1"}', "consent:accepted")
add("withdrawal at the same instant", "consents.raw", "H-T1", '{"type":"consent","event_id":"h-t1-w","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-T1","purpose":"email_marketing","action":"withdraw","method":"email_reply"}', "consent:accepted")
add("consent for a lead never seen", "consents.raw", "H-nobody", '{"type":"consent","event_id":"h-nobody-g","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-nobody","purpose":"email_marketing","action":"grant","method":"checkbox","text_version":"v3","proof_ref":"p-n"}', "consent:no_lead")
add("a pre-ticked grant does not count", "consents.raw", "H-T1", '{"type":"consent","event_id":"h-t1-pre","occurred_at":"2026-11-10T13:30:00Z","lead_id":"H-T1","purpose":"sms_marketing","action":"grant","method":"pre_ticked","text_version":"v3","proof_ref":"p-t1b"}', "consent:accepted")
# Social lead without consent; a minor: quarantined.
add("social lead without consent", "leads.raw", "H-S1", lead("H-S1", "h-s1", person(), {"kind": "social_lead_form", "network": "linkedin"}), "lead:quarantined")
add("a minor without parental consent", "leads.raw", "H-M1", lead("H-M1", "h-m1", person(birth_date="2014-05-01")), "lead:quarantined")
# Duplicates and a reused event id.
base = lead("H-D1", "h-d1", person())
add("original", "leads.raw", "H-D1", base, "lead:accepted")
add("exact duplicate", "leads.raw", "H-D1", base, "duplicate")
add("event_id reused with another payload", "leads.raw", "H-D1", lead("H-D1", "h-d1", person(), {"kind": "import", "import_batch": "b1"}), "dlq:event_id")

# Malformed: dead-lettered with a reason naming the field, never the value.
def dl(name, topic, key, value, reason):
    add(name, topic, key, value, "dlq:" + reason)
c = canary()
dl("raw NUL byte inside a string", "leads.raw", "H-x1", b'{"type":"lead","event_id":"h-x1","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x1","contact":{"first_name":"A\x00' + c.encode() + b'"}}', "")
dl("invalid UTF-8", "leads.raw", "H-x2", b'{"type":"lead","event_id":"h-x2","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x2","contact":{"first_name":"\xff\xfe' + canary().encode() + b'"}}', "")
dl("overlong UTF-8 encoding of /", "leads.raw", "H-x3", b'{"type":"lead","event_id":"h-x3","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x3","contact":{"first_name":"\xc0\xaf' + canary().encode() + b'"}}', "")
add("an escaped NUL in a name is text like any other (names are never stored)", "leads.raw", "H-x4", '{"type":"lead","event_id":"h-x4","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x4","contact":{"first_name":"A\\u0000%s"},"source":{"kind":"web_form"}}' % canary(), "lead:accepted")
dl("a string over the limit", "leads.raw", "H-x5", lead("H-x5", "h-x5", person(company="C" * 3000 + canary())), "contact.company")
dl("a message over the limit", "leads.raw", "H-x6", lead("H-x6", "h-x6", person(company="x"), {"kind": "web_form", "url": "https://shop.example.com/?q=" + "a" * 70000}), "message")
dl("a message too large to copy into the dead letters", "leads.raw", "H-x7", lead("H-x7", "h-x7", person(), {"kind": "web_form", "url": "https://shop.example.com/?q=" + "b" * 300000}), "message")
nest = '{"a":' * 60 + '1' + '}' * 60
dl("deep nesting", "leads.raw", "H-x8", '{"type":"lead","event_id":"h-x8","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x8","contact":' + nest + '}', "")
dl("duplicate top-level key", "leads.raw", "H-x9", '{"type":"lead","event_id":"h-x9","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x9","lead_id":"H-x9b"}', "lead_id")
dl("duplicate key in contact", "leads.raw", "H-x10", '{"type":"lead","event_id":"h-x10","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x10","contact":{"email":"a@example.com","email":"%s@example.com"}}' % canary().lower(), "contact.email")
dl("lead_id as a number", "leads.raw", "H-x11", '{"type":"lead","event_id":"h-x11","occurred_at":"2026-11-10T12:00:00Z","lead_id":12345}', "lead_id")
dl("occurred_at as a number", "leads.raw", "H-x12", '{"type":"lead","event_id":"h-x12","occurred_at":1762776000,"lead_id":"H-x12"}', "occurred_at")
dl("is_business as a string", "leads.raw", "H-x13", '{"type":"lead","event_id":"h-x13","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x13","contact":{"is_business":"true"}}', "contact.is_business")
dl("a behavior value as a string", "behavior.raw", "anon-x14", '{"type":"behavior","event_id":"h-x14","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"anon-x14","action":"purchase","value":"12.50"}', "value")
dl("a number too large", "behavior.raw", "anon-x15", '{"type":"behavior","event_id":"h-x15","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"anon-x15","action":"purchase","value":1e999}', "value")
dl("occurred_at in year 1", "leads.raw", "H-x16", '{"type":"lead","event_id":"h-x16","occurred_at":"0001-01-01T00:00:00Z","lead_id":"H-x16"}', "occurred_at")
dl("occurred_at in year 9999", "leads.raw", "H-x17", '{"type":"lead","event_id":"h-x17","occurred_at":"9999-12-31T23:59:59Z","lead_id":"H-x17"}', "occurred_at")
dl("occurred_at not a time", "leads.raw", "H-x18", '{"type":"lead","event_id":"h-x18","occurred_at":"2026-13-45T99:00:00Z","lead_id":"H-x18"}', "occurred_at")
dl("an address with a zero-width space", "leads.raw", "H-x19", lead("H-x19", "h-x19", person(email="anna\u200b%s@example.com" % canary().lower())), "contact.email")
dl("an address with a right-to-left override", "leads.raw", "H-x20", lead("H-x20", "h-x20", person(email="anna\u202e%s@example.com" % canary().lower())), "contact.email")
dl("not an address", "leads.raw", "H-x21", lead("H-x21", "h-x21", person(email="%s at example dot com" % canary().lower())), "contact.email")
dl("a phone number with SQL", "leads.raw", "H-x22", lead("H-x22", "h-x22", person(phone="+39 333 555 0101; DROP TABLE leads")), "contact.phone")
dl("a country that is not a code", "leads.raw", "H-x23", lead("H-x23", "h-x23", person(country="ITALY")), "contact.country")
dl("a birth date in the future", "leads.raw", "H-x24", lead("H-x24", "h-x24", person(birth_date="2030-01-01")), "contact.birth_date")
dl("an unknown field named after a person", "leads.raw", "H-x25", '{"type":"lead","event_id":"h-x25","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x25","%s_private_email":"x"}' % canary(), "unknown field #")
dl("an empty object", "leads.raw", "H-x26", '{}', "")
dl("not JSON", "leads.raw", "H-x27", 'hello %s' % canary(), "")
dl("a JSON array", "leads.raw", "H-x28", '[1,2,3]', "")
dl("JSON null", "leads.raw", "H-x29", 'null', "")
dl("trailing garbage", "leads.raw", "H-x30", lead("H-x30", "h-x30", person()) + ' {"more":1}', "")
dl("a byte order mark first", "leads.raw", "H-x31", "\ufeff" + lead("H-x31", "h-x31", person()), "")
dl("a behavior event on leads.raw", "leads.raw", "anon-x32", '{"type":"behavior","event_id":"h-x32","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"anon-x32","action":"page_view"}', "unknown field #")
dl("a lead id over 128 characters", "leads.raw", "H-x33", '{"type":"lead","event_id":"h-x33","occurred_at":"2026-11-10T12:00:00Z","lead_id":"%s"}' % ("L" * 200 + canary()), "lead_id")
cs = ",".join('{"purpose":"email_marketing","status":"granted","at":"2026-11-01T09:00:00Z","method":"checkbox","text_version":"v3","proof_ref":"p%d"}' % i for i in range(40))
dl("more consents than allowed", "leads.raw", "H-x34", '{"type":"lead","event_id":"h-x34","occurred_at":"2026-11-10T12:00:00Z","lead_id":"H-x34","consents":[%s]}' % cs, "consents")
dl("a consent action that does not exist", "consents.raw", "H-T1", '{"type":"consent","event_id":"h-x35","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-T1","purpose":"all","action":"delete"}', "action")
dl("a consent purpose that does not exist", "consents.raw", "H-T1", '{"type":"consent","event_id":"h-x36","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-T1","purpose":"everything","action":"grant"}', "purpose")
dl("a duplicate key in a consent", "consents.raw", "H-T1", '{"type":"consent","event_id":"h-x37","occurred_at":"2026-11-10T13:00:00Z","lead_id":"H-T1","lead_id":"H-O1","purpose":"all","action":"object"}', "lead_id")
dl("a behavior action that does not exist", "behavior.raw", "anon-x38", '{"type":"behavior","event_id":"h-x38","occurred_at":"2026-11-10T12:00:00Z","anonymous_id":"anon-x38","action":"hack"}', "action")
dl("a behavior without lead or visitor", "behavior.raw", "anon-x39", '{"type":"behavior","event_id":"h-x39","occurred_at":"2026-11-10T12:00:00Z","action":"page_view"}', "")
dl("a behavior that is not JSON", "behavior.raw", "anon-x40", '{"type":"behavior",', "")
dl("an empty value", "behavior.raw", "anon-x41", '', "")
# The 100x burst: one behavior event a hundred times lands once; a hundred leads at once are all classified.
add("burst: one behavior event 100 times", "behavior.raw", "anon-burst", '{"type":"behavior","event_id":"h-burst-b","occurred_at":"2026-11-10T16:00:00Z","anonymous_id":"anon-burst","action":"add_to_cart","product":{"id":"p9","category":"toys"}}', "burst100:behavior")
add("burst: 100 leads at once", "leads.raw", "H-B", lead("H-B", "h-b", person()), "burst100:lead:accepted")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.jsonl"), "w") as f:
    for e in out:
        f.write(json.dumps(e, ensure_ascii=False) + "\n")
print(len(out), "entries")
