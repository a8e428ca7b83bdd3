import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_EXAMPLES, freshExample } from '../../src/services/webhooks/examples.js';
import { parseEvent, validateEvent } from '../../src/services/webhooks/validate.js';

const text = (name: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'api', name), 'utf8');
const FIXTURES: Record<string, string> = {
  'cmb.slot-picker-happy-flow': 'webhook.cmb.slot-picker-happy-flow.json',
  'cmb.sim-info-unavailable': 'webhook.cmb.sim-info-unavailable.json',
  'cmb.not-interested': 'webhook.cmb.not-interested.json',
  'user-feedback': 'webhook.user-feedback.json',
};

describe('validateEvent', () => {
  it('accepts every documented example and keeps the raw text to store', () => {
    for (const name of Object.values(FIXTURES)) {
      const raw = text(name);
      const result = parseEvent(raw);
      expect(result.ok, name).toBe(true);
      if (!result.ok) continue;
      expect(result.record).toEqual({
        event_id: JSON.parse(raw).event_id,
        event_type: JSON.parse(raw).event_type,
        created_at: JSON.parse(raw).created_at,
        body: raw,
      });
    }
  });

  it('accepts a UTF-8 BOM, unknown extra fields, and created_at as a number', () => {
    expect(parseEvent(`\ufeff${text(FIXTURES['user-feedback']!)}`).ok).toBe(true);
    const event = { ...JSON.parse(text(FIXTURES['cmb.not-interested']!)), created_at: 1761719222, extra: { future: true } };
    const result = validateEvent(event);
    expect(result.ok && result.record.created_at).toBe('1761719222');
  });

  const good = () => JSON.parse(text(FIXTURES['cmb.slot-picker-happy-flow']!));
  const survey = () => JSON.parse(text(FIXTURES['user-feedback']!));
  const cases: Array<[string, unknown, string]> = [
    ['not JSON', '{', 'not valid JSON'],
    ['an array', [good()], 'JSON object'],
    ['null', null, 'JSON object'],
    ['no event_id', { ...good(), event_id: undefined }, 'event_id'],
    ['empty event_id', { ...good(), event_id: '  ' }, 'event_id'],
    ['numeric event_id', { ...good(), event_id: 42 }, 'event_id'],
    ['control chars in event_id', { ...good(), event_id: 'a\nb' }, 'event_id'],
    ['unknown event_type', { ...good(), event_type: 'CMB' }, 'event_type'],
    ['no created_at', { ...good(), created_at: undefined }, 'created_at'],
    ['ISO created_at', { ...good(), created_at: '2025-07-31T07:09:20Z' }, 'created_at'],
    ['cmb without cmb_payload', { ...good(), cmb_payload: undefined }, 'cmb_payload'],
    ['cmb with survey_payload only', { ...survey(), event_type: 'cmb' }, 'cmb_payload'],
    ['is_interested as string', { ...good(), cmb_payload: { ...good().cmb_payload, is_interested: 'true' } }, 'cmb_payload.is_interested'],
    ['preferred time not epoch', { ...good(), cmb_payload: { ...good().cmb_payload, preferred_from_time: '10:30' } }, 'cmb_payload.preferred_from_time'],
    ['client_number as object', { ...good(), cmb_payload: { ...good().cmb_payload, client_number: {} } }, 'cmb_payload.client_number'],
    ['feedback without survey_payload', { ...survey(), survey_payload: [] }, 'survey_payload'],
    ['responses not an array', { ...survey(), survey_payload: { user_responses: {} } }, 'survey_payload.user_responses'],
    ['response pair not an object', { ...survey(), survey_payload: { user_responses: ['5'] } }, 'survey_payload.user_responses[0]'],
    ['response as object', { ...survey(), survey_payload: { user_responses: [{ question: 'q', response: { a: 1 } }] } }, 'survey_payload.user_responses[0].response'],
  ];
  for (const [title, body, field] of cases) {
    it(`rejects ${title}`, () => {
      const result = typeof body === 'string' ? parseEvent(body) : validateEvent(body);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.reason).toContain(field === 'not valid JSON' || field === 'JSON object' ? field : field.split('.').pop()!.replace(/\[\d+\]$/, ''));
      if (field !== 'not valid JSON' && field !== 'JSON object') expect(result.field).toBe(field);
    });
  }

  it('tolerates what the docs show varying: null times, "NA", the placeholder number, missing optional fields', () => {
    const event = good();
    event.cmb_payload = { preferred_from_time: null, preferred_to_time: 'NA', requested_date: 'NA', client_number: 'Phone number not available' };
    delete event.client_account_id;
    expect(validateEvent(event).ok).toBe(true);
    const feedback = survey();
    feedback.survey_payload.user_responses = [{ question: 'Score?', response: 5 }, { question: 'Why?', response: null }];
    expect(validateEvent(feedback).ok).toBe(true);
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
    expect(validateEvent(event).ok).toBe(true);
    expect(doc.event_id).toBe('860a7f4c-6545-40f1-85be-3655edde650f'); // the example itself is not mutated

    const notInterested = freshExample('cmb.not-interested', now);
    expect(notInterested.cmb_payload).toMatchObject({ requested_date: 'NA', requested_slot: 'NA', preferred_from_time: null });
    expect(notInterested.event_id).toMatch(/^[0-9a-f-]{36}$/);
    const feedback = freshExample('user-feedback', now);
    expect(feedback.survey_payload!.requested_at).toBe(String(now / 1000));
    expect(feedback.survey_payload!.user_responses).toEqual(WEBHOOK_EXAMPLES['user-feedback'].survey_payload.user_responses);
  });
});
