import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_EXAMPLES, freshExample } from '../../src/services/webhooks/examples.js';
import { classifyDelivery } from '../../src/services/webhooks/validate.js';

const text = (name: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'api', name), 'utf8');
const FIXTURES: Record<string, string> = {
  'cmb.slot-picker-happy-flow': 'webhook.cmb.slot-picker-happy-flow.json',
  'cmb.sim-info-unavailable': 'webhook.cmb.sim-info-unavailable.json',
  'cmb.not-interested': 'webhook.cmb.not-interested.json',
  'user-feedback': 'webhook.user-feedback.json',
};
const classify = (body: string | object | Buffer) =>
  classifyDelivery(Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
const validEvent = (event: object) => {
  const result = classify(event);
  return result.ok && result.record.unrecognised_reason === null;
};

describe('classifyDelivery', () => {
  it('takes every documented example as it is: the bytes to store, nothing unrecognised', () => {
    for (const name of Object.values(FIXTURES)) {
      const raw = text(name);
      const result = classify(raw);
      expect(result.ok, name).toBe(true);
      if (!result.ok) continue;
      const event = JSON.parse(raw);
      expect(result.record).toEqual({
        event_id: event.event_id,
        event_type: event.event_type,
        created_at: event.created_at,
        created_at_ms: Number(event.created_at) * 1000,
        body: Buffer.from(raw),
        unrecognised_reason: null,
      });
    }
  });

  it('a BOM, unknown extra fields and created_at as a number are documented enough', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text(FIXTURES['user-feedback']!))]);
    const withBom = classify(bom);
    expect(withBom.ok && withBom.record.unrecognised_reason).toBeNull();
    expect(withBom.ok && withBom.record.body).toBe(bom);
    const event = { ...JSON.parse(text(FIXTURES['cmb.not-interested']!)), created_at: 1761719222, extra: { future: true } };
    const result = classify(event);
    expect(result.ok && result.record).toMatchObject({ created_at: '1761719222', created_at_ms: 1761719222000, unrecognised_reason: null });
  });

  const good = () => JSON.parse(text(FIXTURES['cmb.slot-picker-happy-flow']!));
  const survey = () => JSON.parse(text(FIXTURES['user-feedback']!));

  // Cannot be stored: 400.
  const refused: Array<[string, string | object, RegExp]> = [
    ['an empty body', '', /empty/],
    ['not JSON', '{', /not valid JSON: "\{"/],
    ['an array', [good()], /JSON object \(got an array\)/],
    ['null', 'null', /JSON object/],
    ['no event_id', { ...good(), event_id: undefined }, /event_id is missing/],
    ['numeric event_id', { ...good(), event_id: 42 }, /event_id must be a string \(got number 42\)/],
  ];
  for (const [title, body, reason] of refused) {
    it(`refuses ${title}`, () => {
      const result = classify(body);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    });
  }

  it('quotes a broken body cut short (the log escapes it)', () => {
    const result = classify(`not json\n${'x'.repeat(500)}`);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe(`the body is not valid JSON: ${JSON.stringify(`not json\n${'x'.repeat(51)}…`)}`);
  });

  // Stored, flagged unrecognised with the reason.
  const unrecognised: Array<[string, object, RegExp, Partial<{ event_type: string | null; created_at: string | null }>?]> = [
    ['empty event_id', { ...good(), event_id: '  ' }, /event_id is empty/],
    ['control chars in event_id', { ...good(), event_id: 'a\nb' }, /event_id has control characters/],
    ['unknown event_type', { ...good(), event_type: 'CMB' }, /event_type "CMB" is not "cmb" or "user_feedback"/, { event_type: 'CMB' }],
    ['numeric event_type', { ...good(), event_type: 7 }, /event_type number 7/, { event_type: null }],
    ['no created_at', { ...good(), created_at: undefined }, /created_at is missing/, { created_at: null }],
    ['ISO created_at', { ...good(), created_at: '2025-07-31T07:09:20Z' }, /created_at must be epoch seconds/, { created_at: '2025-07-31T07:09:20Z' }],
    ['numeric client_account_id', { ...good(), client_account_id: 5 }, /client_account_id must be a string/],
    ['cmb without cmb_payload', { ...good(), cmb_payload: undefined }, /cmb_payload must be an object/],
    ['cmb with survey_payload only', { ...survey(), event_type: 'cmb' }, /cmb_payload must be an object/],
    ['is_interested as string', { ...good(), cmb_payload: { ...good().cmb_payload, is_interested: 'true' } }, /cmb_payload\.is_interested must be true or false \(got "true"\)/],
    ['numeric client_number', { ...good(), cmb_payload: { ...good().cmb_payload, client_number: 911234567890 } }, /cmb_payload\.client_number must be a string/],
    ['preferred time not epoch', { ...good(), cmb_payload: { ...good().cmb_payload, preferred_from_time: '10:30' } }, /cmb_payload\.preferred_from_time/],
    ['feedback without survey_payload', { ...survey(), survey_payload: [] }, /survey_payload must be an object/],
    ['responses not an array', { ...survey(), survey_payload: { user_responses: {} } }, /survey_payload\.user_responses must be an array/],
    ['response pair not an object', { ...survey(), survey_payload: { user_responses: ['5'] } }, /user_responses\[0\] must be an object/],
    ['response as object', { ...survey(), survey_payload: { user_responses: [{ question: 'q', response: { a: 1 } }] } }, /user_responses\[0\]\.response/],
  ];
  for (const [title, body, reason, fields] of unrecognised) {
    it(`stores ${title}, flagged unrecognised`, () => {
      const result = classify(body);
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.record.unrecognised_reason).toMatch(reason);
      expect(result.record.body.toString()).toBe(JSON.stringify(body));
      if (fields) expect(result.record).toMatchObject(fields);
    });
  }

  it('lists every problem of an odd event, and flags a body that is not UTF-8 (kept as it came)', () => {
    const odd = classify({ ...good(), event_type: 'x', created_at: 'soon' });
    expect(odd.ok && odd.record.unrecognised_reason).toBe('event_type "x" is not "cmb" or "user_feedback"; created_at must be epoch seconds (got "soon")');
    const latin1 = Buffer.concat([Buffer.from('{"event_id":"e1","event_type":"cmb","created_at":"1","cmb_payload":{"cmb_config_name":"Caf'), Buffer.from([0xe9]), Buffer.from('"}}')]);
    const result = classify(latin1);
    expect(result.ok && result.record.unrecognised_reason).toBe('the body is not valid UTF-8');
    expect(result.ok && result.record.body).toBe(latin1);
  });

  it('tolerates what the docs show varying: null times, "NA", the placeholder number, missing optional fields', () => {
    const event = good();
    event.cmb_payload = { preferred_from_time: null, preferred_to_time: 'NA', requested_date: 'NA', client_number: 'Phone number not available' };
    delete event.client_account_id;
    expect(validEvent(event)).toBe(true);
    const feedback = survey();
    feedback.survey_payload.user_responses = [{ question: 'Score?', response: 5 }, { question: 'Why?', response: null }];
    expect(validEvent(feedback)).toBe(true);
  });
});

describe('webhook examples used by `tcb webhook test`', () => {
  it('are the documented payloads, verbatim', () => {
    for (const [name, file] of Object.entries(FIXTURES)) {
      expect(WEBHOOK_EXAMPLES[name as keyof typeof WEBHOOK_EXAMPLES], name).toEqual(JSON.parse(text(file)));
    }
  });

  it('freshExample: new event_id, created_at = now, times shifted together, placeholders untouched, still valid', () => {
    const now = Date.UTC(2026, 4, 1, 12, 0, 0); // a Friday
    const event = freshExample('cmb.slot-picker-happy-flow', now, 'new-id');
    const doc = WEBHOOK_EXAMPLES['cmb.slot-picker-happy-flow'];
    const shift = now / 1000 - Number(doc.created_at);
    expect(event.event_id).toBe('new-id');
    expect(event.created_at).toBe(String(now / 1000));
    expect(event.cmb_payload!.requested_at).toBe(String(Number(doc.cmb_payload.requested_at) + shift));
    expect(event.cmb_payload!.preferred_from_time).toBe(String(Number(doc.cmb_payload.preferred_from_time) + shift));
    expect(event.cmb_payload!.preferred_to_time).toBe(String(Number(doc.cmb_payload.preferred_to_time) + shift));
    expect(event.cmb_payload!.requested_date).toBe('2026-05-03');
    expect(event.cmb_payload!.requested_slot).toBe('Sunday');
    expect(validEvent(event)).toBe(true);
    expect(doc.event_id).toBe('860a7f4c-6545-40f1-85be-3655edde650f'); // the example itself is not mutated

    const notInterested = freshExample('cmb.not-interested', now);
    expect(notInterested.cmb_payload).toMatchObject({ requested_date: 'NA', requested_slot: 'NA', preferred_from_time: null });
    expect(notInterested.event_id).toMatch(/^[0-9a-f-]{36}$/);
    const feedback = freshExample('user-feedback', now);
    expect(feedback.survey_payload!.requested_at).toBe(String(now / 1000));
    expect(feedback.survey_payload!.user_responses).toEqual(WEBHOOK_EXAMPLES['user-feedback'].survey_payload.user_responses);
  });
});
