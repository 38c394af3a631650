// fhir-flow.mjs drives fairslot's FHIR facade through IHE Scheduling's whole
// flow as a hospital system would, with a real FHIR client (fhir-kit-client),
// for the end-to-end test internal/e2e/fhirclient:
//
//	node fhir-flow.mjs --base-url URL --patient-identifier SYSTEM|VALUE --patient-name NAME [--received FILE]
//
// The access token (SMART Backend Services, obtained by the caller) is read
// from FHIR_BEARER_TOKEN, or --token; every flag may be given as an
// environment variable instead: FHIR_BASE_URL, FHIR_PATIENT_IDENTIFIER,
// FHIR_PATIENT_NAME, FHIR_FLOW_RECEIVED. The patient must be on record
// (bound in the patients' app) under that identifier and name.
//
// The steps, one function each, run in the order of `steps` below and share
// one state object; each checks what the server answered and returns what it
// found for the summary:
//
//	metadata  the CapabilityStatement: R4, Slot's search parameters, $find/$hold/$book, SMART's token endpoint
//	slots     free Slots from now on (date search, _include=Slot:schedule, paged), one of a session not yet
//	          begun (so the booking can still be cancelled); then that Schedule's free Slots, searched with
//	          schedule, start and status=free as an integrator does
//	find      $find over the session's hours for its doctor: the proposed Appointments are those free Slots
//	subscribe a rest-hook Subscription on that doctor's Appointments, to a receiver on loopback: active,
//	          with its signing key
//	hold      $hold of the chosen proposal for the patient: pending, on the Slot; a retry with the same
//	          Idempotency-Key is the same hold
//	book      $book of the held Appointment: booked, the same id; a retry books nothing more; the Slot has
//	          one place fewer
//	read      read the Appointment (booked, as $book said) and find it in Appointment?patient=&status=booked
//	cancel    $book of the Appointment with status cancelled; reading it again says cancelled
//	notified  the notifications of the hold, the booking and the cancellation arrived: id-only history
//	          Bundles, each signed with the Subscription's key, each delivery once; the Appointment reads
//	          cancelled
//
// A new step is an async function of (client, state)
// returning its summary, added to `steps` where it belongs. The state holds
// baseUrl, patient (the Patient resource given), slot, schedule,
// practitioner, proposal, patientRef ("Patient/{id}") and appointment (as
// last answered).
//
// It prints a JSON summary on stdout: {"ok": true, "steps": [{"step": name,
// ...}, ...]} and exits 0; on any deviation "ok": false and "failed": {step,
// error}, names the step and what was wrong (with the server's
// OperationOutcome, if any) on stderr too, and exits 1; 2 when it cannot
// start. With --received, every resource the server answered is
// appended to FILE as one JSON line, for the validator (fhir-validate.mjs).
import { appendFileSync, writeFileSync } from 'node:fs';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from 'fhir-kit-client';

const IHE = 'https://profiles.ihe.net/ITI/Scheduling/OperationDefinition/';
const REMAINING = 'urn:fairslot:fhir:StructureDefinition:slot-places-remaining';
const HORIZON_DAYS = 3; // how far ahead the flow looks for a free place
const MAX_PAGES = 30; // of the date search, before giving up
const MARGIN_MS = 10 * 60 * 1000; // a session chosen begins at least this far from now
const SIGNING_KEY = 'urn:fairslot:fhir:StructureDefinition:subscription-signing-key';
const NOTIFY_WAIT_MS = 90 * 1000; // for the cancellation's notification, before giving up

class Deviation extends Error {}

// check throws a Deviation saying what was expected when ok is false.
function check(ok, message) {
  if (!ok) throw new Deviation(message);
}

const json = (x) => JSON.stringify(x);

function config() {
  const { values } = parseArgs({
    options: {
      'base-url': { type: 'string', default: process.env.FHIR_BASE_URL },
      token: { type: 'string', default: process.env.FHIR_BEARER_TOKEN },
      'patient-identifier': { type: 'string', default: process.env.FHIR_PATIENT_IDENTIFIER },
      'patient-name': { type: 'string', default: process.env.FHIR_PATIENT_NAME },
      received: { type: 'string', default: process.env.FHIR_FLOW_RECEIVED },
    },
  });
  const missing = ['base-url', 'token', 'patient-identifier', 'patient-name'].filter((k) => !values[k]);
  if (missing.length > 0) {
    throw new Error(`missing ${missing.map((k) => `--${k}`).join(', ')} (or their FHIR_* environment variables)`);
  }
  const bar = values['patient-identifier'].indexOf('|');
  if (bar <= 0) throw new Error('--patient-identifier must be SYSTEM|VALUE');
  return {
    baseUrl: values['base-url'].replace(/\/+$/, ''),
    token: values.token,
    patient: {
      resourceType: 'Patient',
      identifier: [{ system: values['patient-identifier'].slice(0, bar), value: values['patient-identifier'].slice(bar + 1) }],
      name: [{ text: values['patient-name'] }],
    },
    received: values.received,
  };
}

// A client that records every resource it receives.
function recordingClient(cfg) {
  const client = new Client({ baseUrl: cfg.baseUrl, bearerToken: cfg.token });
  if (cfg.received) writeFileSync(cfg.received, '');
  const keep = (r) => {
    if (cfg.received && r && r.resourceType) appendFileSync(cfg.received, json(r) + '\n');
    return r;
  };
  const wrap = (name) => {
    const f = client[name].bind(client);
    client[name] = async (...args) => {
      try {
        return keep(await f(...args));
      } catch (err) {
        if (err.response && err.response.data && err.response.data.resourceType) keep(err.response.data);
        throw err;
      }
    };
  };
  ['capabilityStatement', 'read', 'search', 'operation', 'nextPage', 'create'].forEach(wrap);
  return client;
}

// operation POSTs a Parameters resource to Appointment/$name.
function operation(client, name, parameter, key) {
  const options = key ? { headers: { 'Idempotency-Key': key } } : {};
  return client.operation({ resourceType: 'Appointment', name, input: { resourceType: 'Parameters', parameter }, options });
}

// answered reads the Appointment $hold and $book answer. The facade answers
// the Appointment itself; IHE's ITI-116/117 describe a searchset Bundle
// holding it — should the facade follow, this is the one place to change.
// answered is the Appointment of a $hold or $book answer: IHE Scheduling's
// searchset Bundle holding that one Appointment (an OperationOutcome may
// come beside it).
function answered(res, op) {
  check(res && res.resourceType === 'Bundle' && res.type === 'searchset',
    `${op} answered ${res && res.resourceType} ${res && res.type || ''}, want IHE's searchset Bundle`);
  const appts = (res.entry || []).map((e) => e.resource).filter((r) => r && r.resourceType === 'Appointment');
  check(appts.length === 1, `${op} answered ${appts.length} Appointments, want one`);
  return appts[0];
}

const ref = (r) => r && r.reference;
const matches = (bundle) => (bundle.entry || []).filter((e) => !e.search || e.search.mode === 'match').map((e) => e.resource);
const remaining = (slot) => ((slot.extension || []).find((x) => x.url === REMAINING) || {}).valueUnsignedInt;

function patientOf(appt) {
  const p = (appt.participant || []).find((x) => x.actor && /^Patient\//.test(x.actor.reference));
  return p && p.actor.reference;
}

async function metadata(client, state) {
  const cs = await client.capabilityStatement();
  check(cs.resourceType === 'CapabilityStatement', `metadata is a ${cs.resourceType}, not a CapabilityStatement`);
  check(cs.fhirVersion === '4.0.1', `fhirVersion ${cs.fhirVersion}, want 4.0.1`);
  const rest = (cs.rest || []).find((r) => r.mode === 'server');
  check(rest, 'no rest entry in server mode');
  const res = (type) => (rest.resource || []).find((r) => r.type === type) || {};
  const slotParams = (res('Slot').searchParam || []).map((p) => p.name);
  for (const p of ['schedule', 'start', 'status']) {
    check(slotParams.includes(p), `Slot's search parameters ${json(slotParams)} lack ${p}`);
  }
  const ops = Object.fromEntries((res('Appointment').operation || []).map((o) => [o.name, o.definition]));
  for (const op of ['find', 'hold', 'book']) {
    check(ops[op] === IHE + 'appointment-' + op, `Appointment's operation ${op} is ${json(ops[op])}, want IHE's ${IHE}appointment-${op}`);
  }
  // SMART discovery as the client does it (well-known, else metadata).
  const auth = await client.smartAuthMetadata();
  const tokenUrl = auth.tokenUrl && auth.tokenUrl.toString();
  check(tokenUrl === state.baseUrl + '/auth/token', `SMART token endpoint ${json(tokenUrl)}, want ${state.baseUrl}/auth/token`);
  return { fhirVersion: cs.fhirVersion, operations: Object.keys(ops), slotSearch: slotParams, tokenUrl };
}

async function slots(client, state) {
  const now = Date.now();
  const from = new Date(now).toISOString();
  const to = new Date(now + HORIZON_DAYS * 24 * 3600 * 1000).toISOString();
  const start = [`ge${from}`, `lt${to}`];
  let page = await client.search({ resourceType: 'Slot', searchParams: { start, status: 'free', _include: 'Slot:schedule', _count: 50 } });
  let chosen, schedule;
  let pages = 0;
  let seen = 0;
  while (page && !chosen) {
    pages++;
    check(page.resourceType === 'Bundle' && page.type === 'searchset', `Slot search answered ${page.resourceType} ${page.type}`);
    const included = new Map((page.entry || []).filter((e) => e.search && e.search.mode === 'include')
      .map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource]));
    for (const s of matches(page)) {
      seen++;
      check(s.resourceType === 'Slot' && s.status === 'free', `status=free found ${s.resourceType}/${s.id} ${s.status}`);
      const at = Date.parse(s.start);
      check(at >= Date.parse(from) - 1000 && at < Date.parse(to), `Slot/${s.id} starts ${s.start}, outside ${from}..${to}`);
      const sch = included.get(ref(s.schedule));
      check(sch, `Slot/${s.id}'s ${ref(s.schedule)} is not in the page though _include=Slot:schedule asked for it`);
      if (!chosen && Date.parse(sch.planningHorizon.start) > now + MARGIN_MS) {
        chosen = s;
        schedule = sch;
      }
    }
    if (!chosen) {
      check(pages < MAX_PAGES, `no free Slot of a session not yet begun in ${pages} pages (${seen} Slots)`);
      page = await client.nextPage({ bundle: page });
    }
  }
  check(chosen, `no free Slot of a session beginning after ${new Date(now + MARGIN_MS).toISOString()} until ${to} (${seen} free Slots seen)`);
  // The integrator's search: the free Slots of one Schedule, over its hours.
  const hours = [`ge${schedule.planningHorizon.start}`, `lt${schedule.planningHorizon.end}`];
  const bySchedule = await client.search({ resourceType: 'Slot',
    searchParams: { schedule: `Schedule/${schedule.id}`, start: hours, status: 'free', _count: 100 } });
  const free = matches(bySchedule);
  for (const s of free) {
    check(s.status === 'free' && ref(s.schedule) === `Schedule/${schedule.id}`,
      `Slot?schedule=Schedule/${schedule.id}&status=free found Slot/${s.id} of ${ref(s.schedule)}, ${s.status}`);
  }
  check(bySchedule.total === free.length, `Slot?schedule= total ${bySchedule.total}, but ${free.length} entries on the one page`);
  const mine = free.find((s) => s.id === chosen.id);
  check(mine, `Slot?schedule=Schedule/${schedule.id}&status=free lacks Slot/${chosen.id}, which the date search found free`);
  const practitioner = (schedule.actor || []).map(ref).find((r) => /^Practitioner\//.test(r));
  check(practitioner, `Schedule/${schedule.id} names no Practitioner`);
  Object.assign(state, { slot: mine, schedule, practitioner, freeSlots: free.map((s) => `Slot/${s.id}`) });
  return { pages, schedule: `Schedule/${schedule.id}`, practitioner, free: free.length, slot: `Slot/${mine.id}`,
    start: mine.start, remaining: remaining(mine) };
}

async function find(client, state) {
  const { schedule, practitioner } = state;
  const res = await operation(client, 'find', [
    { name: 'start', valueDateTime: schedule.planningHorizon.start },
    { name: 'end', valueDateTime: schedule.planningHorizon.end },
    { name: 'practitioner', valueReference: { reference: practitioner } },
    { name: '_count', valueInteger: 100 },
  ]);
  check(res.resourceType === 'Bundle' && res.type === 'searchset', `$find answered ${res.resourceType} ${res.type}`);
  const proposals = matches(res);
  check(res.total === proposals.length, `$find total ${res.total}, but ${proposals.length} entries`);
  for (const a of proposals) {
    check(a.resourceType === 'Appointment' && a.status === 'proposed', `$find proposed ${a.resourceType}/${a.id} ${a.status}`);
    check((a.participant || []).some((p) => ref(p.actor) === practitioner), `$find's Appointment/${a.id} is not with ${practitioner}`);
  }
  // The doctor's proposals over the session's hours are that Schedule's free Slots.
  const slotsOf = proposals.map((a) => ref((a.slot || [])[0])).sort();
  check(json(slotsOf) === json([...state.freeSlots].sort()),
    `$find proposed the Slots ${json(slotsOf)}; the Slot search found free ${json(state.freeSlots)}`);
  const proposal = proposals.find((a) => ref(a.slot[0]) === `Slot/${state.slot.id}`);
  check(proposal.start === state.slot.start && proposal.end === state.slot.end,
    `$find's Appointment/${proposal.id} is ${proposal.start}..${proposal.end}, its Slot ${state.slot.start}..${state.slot.end}`);
  state.proposal = proposal;
  return { proposals: proposals.length, appointment: `Appointment/${proposal.id}` };
}

async function hold(client, state) {
  const key = `fhir-flow-hold-${randomUUID()}`;
  const params = [
    { name: 'appointment-reference', valueReference: { reference: `Appointment/${state.proposal.id}` } },
    { name: 'patient', resource: state.patient },
  ];
  const held = answered(await operation(client, 'hold', params, key), '$hold');
  check(held.status === 'pending', `$hold answered Appointment/${held.id} ${held.status}, want pending`);
  check(ref((held.slot || [])[0]) === `Slot/${state.slot.id}` && held.start === state.slot.start,
    `$hold held ${json(held.slot)} at ${held.start}, want Slot/${state.slot.id} at ${state.slot.start}`);
  const patient = patientOf(held);
  check(patient, `$hold's Appointment/${held.id} names no Patient`);
  const again = answered(await operation(client, 'hold', params, key), 'the retried $hold');
  check(again.id === held.id && again.status === 'pending', `$hold retried with its Idempotency-Key answered Appointment/${again.id} ${again.status}, want Appointment/${held.id} again`);
  Object.assign(state, { appointment: held, patientRef: patient });
  return { appointment: `Appointment/${held.id}`, status: held.status, patient };
}

async function book(client, state) {
  const key = `fhir-flow-book-${randomUUID()}`;
  const params = [{ name: 'appointment-reference', valueReference: { reference: `Appointment/${state.appointment.id}` } }];
  const booked = answered(await operation(client, 'book', params, key), '$book');
  check(booked.id === state.appointment.id && booked.status === 'booked',
    `$book answered Appointment/${booked.id} ${booked.status}, want Appointment/${state.appointment.id} booked`);
  check(patientOf(booked) === state.patientRef, `$book's Appointment names ${patientOf(booked)}, $hold's ${state.patientRef}`);
  const again = answered(await operation(client, 'book', params, key), 'the retried $book');
  check(again.id === booked.id && again.status === 'booked', `$book retried with its Idempotency-Key answered Appointment/${again.id} ${again.status}`);
  const slot = await client.read({ resourceType: 'Slot', id: state.slot.id });
  const before = remaining(state.slot);
  check(remaining(slot) === before - 1, `Slot/${slot.id} has ${remaining(slot)} places left after the booking, ${before} before it`);
  state.appointment = booked;
  return { appointment: `Appointment/${booked.id}`, status: booked.status, slotRemaining: remaining(slot) };
}

async function read(client, state) {
  const a = await client.read({ resourceType: 'Appointment', id: state.appointment.id });
  check(a.status === 'booked', `Appointment/${a.id} reads ${a.status}, want booked`);
  for (const k of ['start', 'end']) {
    check(a[k] === state.appointment[k], `Appointment/${a.id}'s ${k} reads ${a[k]}, $book said ${state.appointment[k]}`);
  }
  check(ref((a.slot || [])[0]) === `Slot/${state.slot.id}`, `Appointment/${a.id} is on ${json(a.slot)}, want Slot/${state.slot.id}`);
  check(patientOf(a) === state.patientRef, `Appointment/${a.id} names ${patientOf(a)}, want ${state.patientRef}`);
  const list = await client.search({ resourceType: 'Appointment', searchParams: { patient: state.patientRef, status: 'booked' } });
  const found = matches(list).map((x) => x.id);
  check(found.includes(a.id), `Appointment?patient=${state.patientRef}&status=booked found ${json(found)}, not ${a.id}`);
  return { appointment: `Appointment/${a.id}`, status: a.status, start: a.start, searchFound: found.length };
}

async function cancel(client, state) {
  const { id } = state.appointment;
  const res = answered(await operation(client, 'book', [{
    name: 'appointment-resource',
    resource: { resourceType: 'Appointment', id, status: 'cancelled', participant: [{ actor: { reference: state.patientRef }, status: 'declined' }] },
  }]), 'cancelling ($book, status cancelled)');
  check(res.id === id && res.status === 'cancelled', `cancelling ($book, status cancelled) answered Appointment/${res.id} ${res.status}`);
  const a = await client.read({ resourceType: 'Appointment', id });
  check(a.status === 'cancelled', `Appointment/${id} reads ${a.status} after cancelling, want cancelled`);
  state.appointment = a;
  return { appointment: `Appointment/${id}`, status: a.status };
}

// receiver listens on loopback for the Subscription's notifications,
// keeping each POST's headers and raw body.
function receiver() {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, port: server.address().port })));
}

// signed checks a notification's X-Fairslot-Signature: t=<unix s>,v1=<hex
// HMAC-SHA256(key, t + "." + body)>, as a receiver would.
function signed(n, key) {
  const h = String(n.headers['x-fairslot-signature'] || '');
  const t = (h.match(/(?:^|,)t=(\d+)/) || [])[1];
  const v1 = (h.match(/(?:^|,)v1=([0-9a-f]{64})/) || [])[1];
  if (!t || !v1 || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const want = createHmac('sha256', key).update(`${t}.`).update(n.body).digest();
  return timingSafeEqual(want, Buffer.from(v1, 'hex'));
}

// subscribe creates a rest-hook Subscription on the chosen doctor's
// Appointments, to a receiver on loopback (a demo server allows it).
async function subscribe(client, state) {
  const hook = await receiver();
  const sub = await client.create({ resourceType: 'Subscription', body: {
    resourceType: 'Subscription', status: 'requested', reason: 'fhir-flow: follow the bookings made',
    criteria: `Appointment?practitioner=${state.practitioner}`,
    channel: { type: 'rest-hook', endpoint: `http://127.0.0.1:${hook.port}/hook`, payload: 'application/fhir+json' },
  } });
  check(sub.resourceType === 'Subscription' && sub.status === 'active', `the Subscription was answered ${sub.resourceType} ${sub.status}, want active`);
  const ext = (sub.extension || []).find((x) => x.url === SIGNING_KEY);
  check(ext && ext.valueBase64Binary, 'the created Subscription carries no signing key');
  Object.assign(state, { hook, subscription: sub, signingKey: Buffer.from(ext.valueBase64Binary, 'base64') });
  return { subscription: `Subscription/${sub.id}`, status: sub.status, criteria: sub.criteria };
}

// notified waits for the notifications of the hold, the booking and the
// cancellation: id-only history Bundles naming the Appointment, each
// signed with the Subscription's key; reading the Appointment they name
// gives its state now, cancelled.
async function notified(client, state) {
  const { hook, appointment, signingKey } = state;
  const about = (n) => {
    const b = JSON.parse(n.body.toString('utf8'));
    return (b.entry || []).some((e) => e.request && e.request.url === `Appointment/${appointment.id}`) ? b : null;
  };
  const deadline = Date.now() + NOTIFY_WAIT_MS;
  let mine = [];
  while (Date.now() < deadline) {
    mine = hook.got.filter(about);
    if (mine.length >= 3) break; // the hold, the payment (booked), the cancellation
    await new Promise((r) => setTimeout(r, 250));
  }
  hook.server.close();
  check(mine.length >= 3, `${mine.length} notifications about Appointment/${appointment.id} within ${NOTIFY_WAIT_MS / 1000} s, want the hold's, the booking's and the cancellation's`);
  for (const n of hook.got) {
    check(signed(n, signingKey), `a notification's signature does not verify: ${n.headers['x-fairslot-signature']}`);
    check(n.headers['x-fairslot-subscription'] === state.subscription.id, `a notification names Subscription ${n.headers['x-fairslot-subscription']}, want ${state.subscription.id}`);
    const b = JSON.parse(n.body.toString('utf8'));
    check(b.resourceType === 'Bundle' && b.type === 'history', `a notification is a ${b.resourceType} ${b.type}, want a history Bundle`);
    check(!(b.entry || []).some((e) => e.resource && e.resource.resourceType === 'Appointment'), 'a notification carries the Appointment itself, not only its id');
  }
  // The notifications go to the validator too, with what the client read.
  if (state.received) hook.got.forEach((n) => appendFileSync(state.received, json(JSON.parse(n.body.toString('utf8'))) + '\n'));
  const deliveries = new Set(hook.got.map((n) => n.headers['x-fairslot-delivery']));
  check(deliveries.size === hook.got.length, `${hook.got.length} notifications for ${deliveries.size} deliveries: one was sent twice`);
  const a = await client.read({ resourceType: 'Appointment', id: appointment.id });
  check(a.status === 'cancelled', `the notified Appointment/${a.id} reads ${a.status}, want cancelled`);
  return { notifications: mine.length, all: hook.got.length, appointment: `Appointment/${a.id}`, status: a.status };
}

export const steps = [metadata, slots, find, subscribe, hold, book, read, cancel, notified];

// describe says what went wrong, with the server's answer for an HTTP error.
function describe(err) {
  if (err instanceof Deviation) return err.message;
  if (err.response) {
    const d = err.response.data;
    const issues = d && d.resourceType === 'OperationOutcome'
      ? d.issue.map((i) => `${i.severity} ${i.code}: ${(i.details && i.details.text) || i.diagnostics || ''}`).join('; ')
      : json(d);
    return `${err.message}: ${issues}`;
  }
  return err.stack || String(err);
}

export async function run(cfg) {
  const client = recordingClient(cfg);
  const state = { baseUrl: cfg.baseUrl, patient: cfg.patient, received: cfg.received };
  const summary = { ok: false, baseUrl: cfg.baseUrl, steps: [] };
  for (const step of steps) {
    try {
      summary.steps.push({ step: step.name, ...(await step(client, state)) });
    } catch (err) {
      summary.failed = { step: step.name, error: describe(err) };
      return summary;
    }
  }
  summary.ok = true;
  return summary;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let cfg;
  try {
    cfg = config();
  } catch (err) {
    process.stderr.write(`fhir-flow: ${err.message}\n`);
    process.exit(2);
  }
  const summary = await run(cfg);
  process.stdout.write(json(summary) + '\n');
  if (!summary.ok) {
    process.stderr.write(`fhir-flow: step ${summary.failed.step}: ${summary.failed.error}\n`);
    process.exit(1);
  }
}
