# Writes platforms.jsonl, the hostile platform payloads of
# TestIntakeHostilePlatformPayloads: one line per case, {"name", "path",
# "body" or "body_b64", "expect"}. expect: "400:<text the answer names>",
# "401", "200:produced", "200:dead_lettered", "200:none" (nothing to produce).
# Meta bodies are signed by the test. Personal fields hold a canary, Zq<NNN>k,
# that no answer may hold. The fake Graph API answers lead 999000000000001
# with a truncated object. Run: python3 generate_platforms.py
import base64, json
out = []
n = [900]
def canary():
    n[0] += 1
    return "Zq%03dk" % n[0]
def add(name, path, body, expect):
    e = {"name": name, "path": path, "expect": expect}
    if isinstance(body, bytes):
        e["body_b64"] = base64.b64encode(body).decode()
    else:
        e["body"] = body
    out.append(e)
def meta(value, obj="page"):
    return '{"object":"%s","entry":[{"id":"1","time":1466583137,"changes":[{"field":"leadgen","value":%s}]}]}' % (obj, value)
add("meta: ids as strings", "/v1/meta", meta('{"leadgen_id":"130528934038370","form_id":"129595594131704","page_id":"1","created_time":1466583136}'), "200:produced")
add("meta: a leadgen_id as a float", "/v1/meta", meta('{"leadgen_id":1.3052893403837e14,"form_id":1}'), "400:value.leadgen_id")
add("meta: a negative leadgen_id", "/v1/meta", meta('{"leadgen_id":-5,"form_id":1}'), "400:value.leadgen_id")
add("meta: a leadgen_id of 40 digits", "/v1/meta", meta('{"leadgen_id":%s}' % ("9" * 40)), "400:value.leadgen_id")
add("meta: a leadgen_id that is an email", "/v1/meta", meta('{"leadgen_id":"%s@example.com"}' % canary()), "400:value.leadgen_id")
add("meta: entry an object", "/v1/meta", '{"object":"page","entry":{"id":"1"}}', "400:entry")
add("meta: changes[].value an array", "/v1/meta", meta('[1,2,3]'), "400:where an object belongs")
add("meta: not JSON", "/v1/meta", '{"object":"page",', "400:not JSON")
add("meta: nested 20,000 deep", "/v1/meta", meta("[" * 20000 + "]" * 20000), "400:")
add("meta: 2,000 changes of another field", "/v1/meta",
    '{"object":"page","entry":[{"id":"1","changes":[' + ",".join(['{"field":"feed","value":{"item":"status"}}'] * 2000) + ']}]}', "200:none")
add("meta: invalid UTF-8 in the leadgen_id", "/v1/meta", meta('{"leadgen_id":"12\xff34"}').encode("latin-1"), "400:UTF-8")
add("meta: the Graph API gives a truncated lead", "/v1/meta", meta('{"leadgen_id":999000000000001,"form_id":12312312312}'), "200:dead_lettered")
g = lambda **kw: json.dumps(dict({"lead_id": "H-1", "api_version": "1.0", "form_id": 40000000, "campaign_id": 12345, "google_key": "secret",
    "is_test": False, "lead_submit_time": "2024-09-26T12:30:00Z", "user_column_data": [{"column_id": "EMAIL", "string_value": canary() + "@example.com"}]}, **kw))
add("google: a lead_id of 17 digits as a number", "/v1/google-ads", g(lead_id=55459717045641545), "200:produced")
add("google: 2,000 columns", "/v1/google-ads", g(lead_id="H-2", user_column_data=[{"column_id": "QUESTION_%d" % i, "string_value": "x"} for i in range(2000)]), "200:produced")
add("google: an email of 18 KB", "/v1/google-ads", g(lead_id="H-3", user_column_data=[{"column_id": "EMAIL", "string_value": canary() * 3000 + "@example.com"}]), "400:contact.email")
add("google: an email that is no address", "/v1/google-ads", g(lead_id="H-4", user_column_data=[{"column_id": "EMAIL", "string_value": canary() + "@@"}]), "400:contact.email")
add("google: invalid UTF-8", "/v1/google-ads", g(lead_id="H-5").replace("H-5", "H-\udcff5").encode("utf-8", "surrogateescape"), "400:UTF-8")
add("google: google_key a number", "/v1/google-ads", g(lead_id="H-6", google_key=12345), "401")
add("google: form_id a string of letters", "/v1/google-ads", g(lead_id="H-7", form_id="forty"), "400:form_id")
add("google: is_test a string", "/v1/google-ads", g(lead_id="H-8", is_test="false"), "400:is_test")
ev = lambda **kw: json.dumps(dict({"type": "lead", "event_id": "h-ev-1", "occurred_at": "2026-11-10T12:00:00Z", "lead_id": "h-lead-1",
    "contact": {"email": canary() + "@example.com"}, "source": {"kind": "web_form"}}, **kw))
add("events: a line nested 10,000 deep", "/v1/events", ev() + "\n" + "[" * 10000 + "]" * 10000, "400:line 2")
add("events: invalid UTF-8 in a line", "/v1/events", (ev(event_id="h-ev-2").replace("h-ev-2", "h-ev-\udcff2")).encode("utf-8", "surrogateescape"), "400:line 1")
add("events: a type leadpipe does not know", "/v1/events", ev(type="purchase"), "400:type")
add("events: an unknown field", "/v1/events", ev(favourite_colour="red"), "400:unknown field")
add("events: 500 valid lines", "/v1/events", "\n".join(ev(event_id="h-ev-many-%d" % i, lead_id="h-lead-many-%d" % i) for i in range(500)), "200:produced")
li = lambda **kw: json.dumps(dict({"type": "LEAD_ACTION", "leadGenFormResponse": "urn:li:leadGenFormResponse:h-1", "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:7234246,1)",
    "leadType": "SPONSORED", "leadAction": "DELETED", "occurredAt": 1689980999288}, **kw))
add("linkedin: a DELETED without its response", "/v1/linkedin", li(leadGenFormResponse=""), "400:leadGenFormResponse")
add("linkedin: an action neither CREATED nor DELETED", "/v1/linkedin", li(leadAction="UPDATED"), "400:leadAction")
add("linkedin: occurredAt a string", "/v1/linkedin", li(occurredAt="yesterday"), "400:occurredAt")
add("linkedin: a CREATED is dead-lettered with its ids", "/v1/linkedin", li(leadAction="CREATED", leadGenFormResponse="urn:li:leadGenFormResponse:h-2"), "200:dead_lettered")
with open("platforms.jsonl", "w") as f:
    for e in out:
        f.write(json.dumps(e, ensure_ascii=False) + "\n")
