import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { epochSecondsToIso, epochSecondsToMs } from '../../src/services/webhooks/epoch.js';
import { CMB_EXPORT_FIELDS, FEEDBACK_EXPORT_FIELDS, toExportRows } from '../../src/services/webhooks/records.js';
import type { StoredWebhookEvent } from '../../src/services/webhooks/store.js';

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
    const stored: StoredWebhookEvent = {
      seq: 7,
      event_id: event.event_id,
      event_type: 'user_feedback',
      created_at: event.created_at,
      received_at: '2025-07-31T07:27:58.000Z',
      deliveries: 2,
      event,
    };
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
});
