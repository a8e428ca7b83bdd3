import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { epochSecondsToIso, epochSecondsToMs } from '../../src/services/webhooks/epoch.js';
import { CMB_EXPORT_FIELDS, FEEDBACK_EXPORT_FIELDS, toExportRows } from '../../src/services/webhooks/records.js';
import type { StoredWebhookEvent } from '../../src/services/webhooks/store-types.js';

/** A stored event as the store gives it: the body as bytes. */
function storedOf(event: object | string, extra: Partial<StoredWebhookEvent> = {}): StoredWebhookEvent {
  const text = typeof event === 'string' ? event : JSON.stringify(event);
  const parsed = JSON.parse(text);
  return {
    seq: 7,
    event_id: parsed.event_id,
    event_type: typeof parsed.event_type === 'string' ? parsed.event_type : null,
    created_at: parsed.created_at ?? null,
    created_at_ms: null,
    received_at: '2025-07-31T07:27:58.000Z',
    received_at_ms: Date.parse('2025-07-31T07:27:58.000Z'),
    last_received_ms: Date.parse('2025-07-31T07:27:58.000Z'),
    deliveries: 1,
    conflicts: 0,
    unrecognised_reason: null,
    body: Buffer.from(text),
    ...extra,
  };
}

const load = (name: string) => JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'api', name), 'utf8'));

describe('epoch helpers', () => {
  it('reads epoch-second strings and rejects placeholders', () => {
    expect(epochSecondsToMs('1753945760')).toBe(1_753_945_760_000);
    expect(epochSecondsToMs(1753945760)).toBe(1_753_945_760_000);
    expect(epochSecondsToMs('1753945760000')).toBe(1_753_945_760_000);
    expect(epochSecondsToIso('1753945760')).toBe('2025-07-31T07:09:20.000Z');
    for (const value of [null, undefined, 'NA', '', 'Friday', '2025-08-02', {}]) expect(epochSecondsToIso(value)).toBeNull();
  });
});

describe('toExportRows', () => {
  it('cmb happy flow: one row, raw values kept, ISO next to each epoch field', () => {
    const rows = toExportRows(load('webhook.cmb.slot-picker-happy-flow.json'));
    expect(rows).toEqual([
      {
        event_id: '860a7f4c-6545-40f1-85be-3655edde650f',
        event_type: 'cmb',
        client_account_id: '91c173bb-28d8-4030-9722-8663ff9589f3',
        created_at: '1753945760',
        created_at_iso: '2025-07-31T07:09:20.000Z',
        business_number: '910987654321',
        feature_set: 'Fresh Flower Delivery',
        client_number: '911234567890',
        requested_at: '1753945760',
        requested_at_iso: '2025-07-31T07:09:20.000Z',
        requested_date: '2025-08-02',
        requested_slot: 'Saturday',
        preferred_from_time: '1754116200',
        preferred_from_time_iso: '2025-08-02T06:30:00.000Z',
        preferred_to_time: '1754118000',
        preferred_to_time_iso: '2025-08-02T07:00:00.000Z',
        is_interested: true,
        alternate_number: '',
        cmb_config_name: 'CMBName',
        received_at: null,
        deliveries: null,
        conflicts: null,
        unrecognised_reason: null,
        raw: null,
      },
    ]);
    expect(Object.keys(rows[0]!)).toEqual(CMB_EXPORT_FIELDS);
  });

  it('cmb not interested / SIM unavailable: null, "NA" and the placeholder are kept as they came', () => {
    const [notInterested] = toExportRows(load('webhook.cmb.not-interested.json'));
    expect(notInterested).toMatchObject({
      requested_date: 'NA',
      requested_slot: 'NA',
      preferred_from_time: null,
      preferred_from_time_iso: null,
      preferred_to_time: null,
      preferred_to_time_iso: null,
      is_interested: false,
    });
    const [sim] = toExportRows(load('webhook.cmb.sim-info-unavailable.json'));
    expect(sim).toMatchObject({ client_number: 'Phone number not available', alternate_number: '911234567898' });
  });

  it('user feedback: one row per question/response pair, with store metadata when given a stored event', () => {
    const event = load('webhook.user-feedback.json');
    const stored = storedOf(event, { deliveries: 2, conflicts: 1 });
    const rows = toExportRows(stored);
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => Object.keys(r))).toEqual([FEEDBACK_EXPORT_FIELDS, FEEDBACK_EXPORT_FIELDS]);
    expect(rows[0]).toEqual({
      event_id: '7719f451-5436-470a-98ba-422b997582f8',
      event_type: 'user_feedback',
      client_account_id: '91c173bb-28d8-4030-9722-8663ff9589f3',
      created_at: '1753946877',
      created_at_iso: '2025-07-31T07:27:57.000Z',
      survey_name: 'Flower Quality Check',
      business_number: '+910987654321',
      feature_set: 'Fresh Flower Delivery',
      client_number: '911234567890',
      requested_at: '1753946877',
      requested_at_iso: '2025-07-31T07:27:57.000Z',
      response_index: 1,
      question: 'How was the delivery experience?',
      response: '5',
      received_at: '2025-07-31T07:27:58.000Z',
      deliveries: 2,
      conflicts: 1,
      unrecognised_reason: null,
      raw: null,
    });
    expect(rows[1]).toMatchObject({ response_index: 2, question: 'Flower Quality?', response: 'Good' });
  });

  it('user feedback without responses still gives one row', () => {
    const event = load('webhook.user-feedback.json');
    event.survey_payload.user_responses = [];
    const rows = toExportRows(event);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ response_index: null, question: null, response: null, survey_name: 'Flower Quality Check' });
  });

  it('missing payload fields become null so every row has the same columns', () => {
    const rows = toExportRows({ event_id: 'x', event_type: 'cmb', created_at: '1753945760', cmb_payload: {} });
    expect(Object.keys(rows[0]!)).toEqual(CMB_EXPORT_FIELDS);
    expect(rows[0]).toMatchObject({ business_number: null, is_interested: null, client_account_id: null });
  });

  it('an unrecognised event keeps its odd values, and carries its reason and raw body (text for CSV, value for JSON)', () => {
    const event = { ...load('webhook.cmb.slot-picker-happy-flow.json'), event_id: 'odd' };
    event.cmb_payload.is_interested = 'true';
    event.cmb_payload.client_number = 911234567890;
    const text = `${JSON.stringify(event, null, 1)}\n`;
    const stored = storedOf(text, { unrecognised_reason: 'cmb_payload.is_interested must be true or false (got "true")' });
    const [asText] = toExportRows(stored, { raw: 'text' });
    expect(asText).toMatchObject({ event_id: 'odd', is_interested: 'true', client_number: 911234567890, raw: text, unrecognised_reason: expect.stringMatching(/is_interested/) });
    const [asValue] = toExportRows(stored, { raw: 'value' });
    expect(asValue!.raw).toEqual(event);
  });

  it('an event of an unknown type takes the shape of the export it is in; a BOM and invalid UTF-8 are decoded for the export only', () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"event_id":"x","event_type":"call_log","note":"Caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const stored = storedOf('{"event_id":"x"}', { event_type: 'call_log', body, unrecognised_reason: 'the body is not valid UTF-8; event_type "call_log" is not "cmb" or "user_feedback"' });
    const [cmbRow] = toExportRows(stored, { type: 'cmb' });
    expect(Object.keys(cmbRow!)).toEqual(CMB_EXPORT_FIELDS);
    expect(cmbRow).toMatchObject({ event_id: 'x', event_type: 'call_log', business_number: null, raw: '{"event_id":"x","event_type":"call_log","note":"Caf\ufffd"}' });
    const [feedbackRow] = toExportRows(stored, { type: 'user_feedback', raw: 'value' });
    expect(Object.keys(feedbackRow!)).toEqual(FEEDBACK_EXPORT_FIELDS);
    expect(feedbackRow).toMatchObject({ question: null, raw: { event_id: 'x', event_type: 'call_log', note: 'Caf\ufffd' } });
  });
});
