// The oracle of schemas.DecodeTCF: IAB's reference library
// @iabtechlabtcf/core (pinned in package.json), run by
// schemas/tcf_oracle_test.go and scripts/tcf-bench.sh.
//
//   node oracle.mjs gen SEED COUNT   makes COUNT random TCModels (seeded),
//                                    encodes each with the reference encoder
//                                    and decodes the string again
//   node oracle.mjs decode           decodes the strings on stdin, one a line
//   node oracle.mjs bench FILE [MS]  decodes the strings of FILE for MS
//                                    milliseconds (default 3000) and prints
//                                    the ns per string
//
// gen and decode write one JSON line per string: {"tc": STRING, "ref":
// MODEL} when the reference decodes it, {"tc": STRING, "err": MESSAGE}
// when it throws. MODEL has the JSON shape of schemas.TCString.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { GVL, PurposeRestriction, Segment, SegmentEncoder, SemanticPreEncoder, TCModel, TCString } from '@iabtechlabtcf/core';

// ids is a reference Vector as a sorted array of ids.
const ids = (v) => [...v.values()].sort((a, b) => a - b);

// goTime writes a date as Go's encoding/json writes a time.Time in UTC
// (RFC 3339, no trailing zeros in the fraction), so that the Go test can
// compare the bytes.
const goTime = (d) => d.toISOString().replace(/\.(\d*?)0*Z$/, (_, f) => (f ? `.${f}Z` : 'Z'));

// view is a decoded TCModel in the JSON shape of schemas.TCString.
function view(m) {
  const restrictions = [];
  for (const [hash, set] of m.publisherRestrictions.map) {
    if (set.size === 0) continue;
    const [purposeId, restrictionType] = hash.split('-').map(Number);
    restrictions.push({ purposeId, restrictionType, vendorIds: [...set].sort((a, b) => a - b) });
  }
  restrictions.sort((a, b) => a.purposeId - b.purposeId || a.restrictionType - b.restrictionType);
  return {
    version: m.version,
    created: goTime(m.created),
    lastUpdated: goTime(m.lastUpdated),
    cmpId: m.cmpId,
    cmpVersion: m.cmpVersion,
    consentScreen: m.consentScreen,
    consentLanguage: m.consentLanguage,
    vendorListVersion: m.vendorListVersion,
    policyVersion: m.policyVersion,
    isServiceSpecific: m.isServiceSpecific,
    useNonStandardTexts: m.useNonStandardTexts,
    specialFeatureOptins: ids(m.specialFeatureOptins),
    purposeConsents: ids(m.purposeConsents),
    purposeLegitimateInterests: ids(m.purposeLegitimateInterests),
    purposeOneTreatment: m.purposeOneTreatment,
    publisherCountryCode: m.publisherCountryCode,
    vendorConsents: ids(m.vendorConsents),
    vendorLegitimateInterests: ids(m.vendorLegitimateInterests),
    publisherRestrictions: restrictions,
    vendorsDisclosed: ids(m.vendorsDisclosed),
    publisherConsents: ids(m.publisherConsents),
    publisherLegitimateInterests: ids(m.publisherLegitimateInterests),
    publisherCustomConsents: ids(m.publisherCustomConsents),
    publisherCustomLegitimateInterests: ids(m.publisherCustomLegitimateInterests),
  };
}

function decodeLine(tc) {
  try {
    return JSON.stringify({ tc, ref: view(TCString.decode(tc)) });
  } catch (e) {
    return JSON.stringify({ tc, err: String(e && e.message) });
  }
}

// mulberry32: a small seeded generator, so that a seed names a corpus.
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const chance = (p) => next() < p;
  const pick = (xs) => xs[int(0, xs.length - 1)];
  const subset = (lo, hi, p) => {
    const out = [];
    for (let i = lo; i <= hi; i++) if (chance(p)) out.push(i);
    return out;
  };
  return { int, chance, pick, subset };
}

// makeGVL is a synthetic Global Vendor List of about maxVendor vendors:
// the reference encoder needs one, and drops the vendors it does not list.
function makeGVL(r, maxVendor, density) {
  const named = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [i + 1, { id: i + 1, name: `p${i + 1}`, description: '', illustrations: [] }]));
  const vendors = {};
  for (let id = 1; id <= maxVendor; id++) {
    if (!r.chance(density)) continue;
    const purposes = r.subset(1, 11, 0.4);
    const legIntPurposes = r.subset(2, 11, 0.3).filter((p) => !purposes.includes(p) && (p < 3 || p > 6));
    const flexiblePurposes = [...purposes, ...legIntPurposes].filter((p) => p !== 1 && r.chance(0.5));
    vendors[id] = {
      id, name: `v${id}`, purposes, legIntPurposes, flexiblePurposes,
      specialPurposes: r.subset(1, 2, 0.3), features: r.subset(1, 3, 0.3), specialFeatures: r.subset(1, 2, 0.2),
      ...(r.chance(0.03) ? { deletedDate: '2024-01-01T00:00:00Z' } : {}),
    };
  }
  return new GVL({
    gvlSpecificationVersion: 3, vendorListVersion: 1, tcfPolicyVersion: 5, lastUpdated: '2025-01-01T00:00:00Z',
    purposes: named(11), specialPurposes: named(2), features: named(3), specialFeatures: named(2), stacks: {}, vendors,
  });
}

const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

// vendorSet picks vendor ids up to max: none, a few, runs (which the
// encoder writes as ranges) or most (a bit field).
function vendorSet(r, max) {
  switch (r.int(0, 4)) {
    case 0: return [];
    case 1: return r.subset(1, max, Math.min(1, 6 / max));
    case 2: {
      const out = [];
      for (let id = r.int(1, 40); id <= max; id += r.int(1, 300)) {
        for (const end = Math.min(max, id + r.int(0, 120)); id <= end; id++) out.push(id);
      }
      return out;
    }
    case 3: return r.subset(1, max, 0.5);
    default: return r.subset(1, max, 0.95);
  }
}

// model makes one random TCModel and the segments to encode it with.
function model(r, gvls) {
  const [gvl, maxVendor] = r.pick(gvls);
  // The encoder takes these from the GVL: change them per model.
  gvl.vendorListVersion = r.int(1, 4095);
  gvl.tcfPolicyVersion = r.chance(0.9) ? r.pick([4, 5, 5]) : r.pick([2, 3, 6]);
  gvl.lang_ = r.chance(0.7) ? r.pick(['EN', 'FR', 'DE', 'IT', 'ES', 'NL', 'PL']) : r.pick(letters.split('')) + r.pick(letters.split(''));
  const m = new TCModel(gvl);
  m.cmpId = r.int(2, 4095);
  m.cmpVersion = r.int(0, 4095);
  m.consentScreen = r.int(0, 63);
  m.publisherCountryCode = r.pick(letters.split('')) + r.pick(letters.split(''));
  m.isServiceSpecific = r.chance(0.9);
  m.useNonStandardTexts = r.chance(0.2);
  m.purposeOneTreatment = r.chance(0.2);
  // Day-level times, as TCF 2.2 writes them, and some to the decisecond.
  const day = Date.UTC(2019, 0, 1) + r.int(0, 4000) * 86400000;
  m.created = new Date(r.chance(0.8) ? day : day + r.int(0, 863999) * 100);
  m.lastUpdated = r.chance(0.8) ? m.created : new Date(day + r.int(0, 863999) * 100);
  m.specialFeatureOptins.set(r.subset(1, 12, 0.3));
  m.purposeConsents.set(r.subset(1, 24, 0.4));
  m.purposeLegitimateInterests.set(r.subset(1, 24, 0.3));
  m.vendorConsents.set(vendorSet(r, maxVendor));
  m.vendorLegitimateInterests.set(vendorSet(r, maxVendor));
  m.vendorsDisclosed.set(vendorSet(r, maxVendor));
  for (let i = r.chance(0.5) ? r.int(1, 6) : 0; i > 0; i--) {
    const pr = new PurposeRestriction(r.int(1, 11), r.int(0, 2));
    if (r.chance(0.05)) {
      m.publisherRestrictions.restrictPurposeToLegalBasis(pr);
    } else {
      for (const id of vendorSet(r, maxVendor)) m.publisherRestrictions.add(id, pr);
    }
  }
  m.publisherConsents.set(r.subset(1, 24, 0.3));
  m.publisherLegitimateInterests.set(r.subset(1, 24, 0.2));
  m.numCustomPurposes = r.chance(0.5) ? 0 : r.int(1, r.chance(0.9) ? 12 : 63);
  m.publisherCustomConsents.set(r.subset(1, m.numCustomPurposes, 0.5));
  m.publisherCustomLegitimateInterests.set(r.subset(1, m.numCustomPurposes, 0.3));
  m.vendorsAllowed.set(vendorSet(r, maxVendor));

  const D = Segment.VENDORS_DISCLOSED;
  const P = Segment.PUBLISHER_TC;
  const segments = [Segment.CORE, ...r.pick([[D], [D], [D, P], [P, D], [D, P], [], [P]])];
  if (r.chance(0.05)) segments.push(Segment.VENDORS_ALLOWED);
  return { m, segments };
}

// encode writes m with the reference encoder. Most go through its
// semantic pre-encoder, as TCString.encode does (vendors not in the GVL
// dropped, no legitimate interest for purposes 1 and 3 to 6), minus the
// deep copy of model and GVL that TCString.encode makes first and that
// would take most of the test's time; the others go through its segment
// encoder alone, which writes the model as it is (any vendor id,
// legitimate interest for any purpose).
function encode(r, m, segments) {
  const gvl = m.gvl;
  m.version = 2;
  m.consentLanguage = gvl.language.slice(0, 2).toUpperCase();
  if (r.chance(0.9)) {
    SemanticPreEncoder.processor[1](m, gvl);
  } else {
    m.gvl_ = undefined;
    m.vendorListVersion = gvl.vendorListVersion;
    m.policyVersion = gvl.tcfPolicyVersion;
  }
  return segments.map((s) => SegmentEncoder.encode(m, s)).join('.');
}

function gen(seed, count) {
  const r = generator(seed);
  const small = [makeGVL(r, 40, 0.9), 40];
  const medium = [makeGVL(r, 400, 0.8), 400];
  const large = [makeGVL(r, 1200, 0.9), 1200];
  const gvls = [small, small, medium, medium, large];
  const out = [];
  for (let i = 0; i < count; i++) {
    const { m, segments } = model(r, gvls);
    let tc;
    try {
      tc = encode(r, m, segments);
    } catch (e) {
      process.stderr.write(`oracle: the reference encoder refused model ${i}: ${e.message}\n`);
      process.exit(1);
    }
    out.push(decodeLine(tc));
    if (out.length >= 1000) {
      process.stdout.write(out.join('\n') + '\n');
      out.length = 0;
    }
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

async function decode() {
  const out = [];
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    out.push(decodeLine(line));
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
}

function bench(file, ms) {
  const strings = readFileSync(file, 'utf8').split('\n').filter((s) => s && !s.startsWith('#'));
  // Warm up the JIT, then decode the whole set until ms have passed.
  for (let i = 0; i < 3; i++) for (const s of strings) TCString.decode(s);
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1000000n;
  let now = start;
  while (now < deadline) {
    for (const s of strings) TCString.decode(s);
    n += strings.length;
    now = process.hrtime.bigint();
  }
  console.log(`${(Number(now - start) / n).toFixed(0)} ns/string (${n} decodes of ${strings.length} strings)`);
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'gen') gen(Number(a), Number(b));
else if (mode === 'decode') await decode();
else if (mode === 'bench') bench(a, Number(b || 3000));
else {
  process.stderr.write('usage: node oracle.mjs gen SEED COUNT | decode | bench FILE [MS]\n');
  process.exit(2);
}
