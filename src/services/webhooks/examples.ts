import { randomUUID } from 'node:crypto';
import type { WebhookEvent, WebhookEventType } from './types.js';

/**
 * The documented webhook payloads (api/examples/webhook.*.json, copied verbatim; a unit test checks
 * them against test/fixtures/api). `tcb webhook test` sends one with a fresh event_id and fresh times.
 */
export const WEBHOOK_EXAMPLES = {
  'cmb.slot-picker-happy-flow': {
    "event_id": "860a7f4c-6545-40f1-85be-3655edde650f",
    "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
    "event_type": "cmb",
    "created_at": "1753945760",
    "cmb_payload": {
      "business_number": "910987654321",
      "feature_set": "Fresh Flower Delivery",
      "client_number": "911234567890",
      "requested_at": "1753945760",
      "requested_date": "2025-08-02",
      "requested_slot": "Saturday",
      "preferred_from_time": "1754116200",
      "preferred_to_time": "1754118000",
      "is_interested": true,
      "alternate_number": "",
      "cmb_config_name": "CMBName"
    }
  },
  'cmb.sim-info-unavailable': {
    "event_id": "119be0c3-d23f-4728-8e42-d936c2e8dad6",
    "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
    "event_type": "cmb",
    "created_at": "1753945773",
    "cmb_payload": {
      "business_number": "910987654321",
      "feature_set": "Testfeature",
      "client_number": "Phone number not available",
      "requested_at": "1753945773",
      "requested_date": "2025-08-02",
      "requested_slot": "Friday",
      "preferred_from_time": "1754031600",
      "preferred_to_time": "1754033400",
      "is_interested": true,
      "alternate_number": "911234567898",
      "cmb_config_name": "CMBName"
    }
  },
  'cmb.not-interested': {
    "event_id": "17c023e6-444c-4938-b09f-69b31aa2e55a",
    "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
    "event_type": "cmb",
    "created_at": "1761719222",
    "cmb_payload": {
      "business_number": "911234567897",
      "feature_set": "New Feature Set-12",
      "client_number": "918765432198",
      "requested_at": "1761719222",
      "requested_date": "NA",
      "requested_slot": "NA",
      "preferred_from_time": null,
      "preferred_to_time": null,
      "is_interested": false,
      "alternate_number": "",
      "cmb_config_name": "CMBName"
    }
  },
  'user-feedback': {
    "event_id": "7719f451-5436-470a-98ba-422b997582f8",
    "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
    "event_type": "user_feedback",
    "created_at": "1753946877",
    "survey_payload": {
      "name": "Flower Quality Check",
      "business_number": "+910987654321",
      "feature_set": "Fresh Flower Delivery",
      "client_number": "911234567890",
      "requested_at": "1753946877",
      "user_responses": [
        {
          "question": "How was the delivery experience?",
          "response": "5"
        },
        {
          "question": "Flower Quality?",
          "response": "Good"
        }
      ]
    }
  },
} as const satisfies Record<string, WebhookEvent>;

export type WebhookExampleName = keyof typeof WEBHOOK_EXAMPLES;

/** The example sent for each type unless --example picks another. */
export const DEFAULT_EXAMPLE: Record<WebhookEventType, WebhookExampleName> = {
  cmb: 'cmb.slot-picker-happy-flow',
  user_feedback: 'user-feedback',
};

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const EPOCH_FIELDS = ['requested_at', 'preferred_from_time', 'preferred_to_time'] as const;

/**
 * A copy of an example with a fresh event_id and every epoch-second time moved by the same amount,
 * so created_at is `now` and the slot keeps its place relative to the request (still in the future).
 * requested_date (and a weekday requested_slot) follow the shifted preferred_from_time (UTC);
 * "NA" and null stay as they are.
 */
export function freshExample(name: WebhookExampleName, nowMs: number = Date.now(), eventId: string = randomUUID()): WebhookEvent {
  const example = structuredClone(WEBHOOK_EXAMPLES[name]) as unknown as WebhookEvent;
  const nowSeconds = Math.floor(nowMs / 1000);
  const shift = nowSeconds - Number(example.created_at);
  const move = (value: unknown) =>
    typeof value === 'string' && /^\d+$/.test(value) ? String(Number(value) + shift) : value;
  example.event_id = eventId;
  example.created_at = String(nowSeconds);
  const payload = (example.cmb_payload ?? example.survey_payload) as Record<string, unknown>;
  for (const field of EPOCH_FIELDS) if (field in payload) payload[field] = move(payload[field]);
  if (typeof payload.requested_date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(payload.requested_date)) {
    const anchor = payload.preferred_from_time ?? payload.requested_at;
    if (typeof anchor === 'string' && /^\d+$/.test(anchor)) {
      const date = new Date(Number(anchor) * 1000);
      payload.requested_date = date.toISOString().slice(0, 10);
      if (typeof payload.requested_slot === 'string' && WEEKDAYS.includes(payload.requested_slot)) {
        payload.requested_slot = WEEKDAYS[date.getUTCDay()];
      }
    }
  }
  return example;
}
