/**
 * The webhook events Truecaller POSTs (api/README.md §8, examples webhook.*.json).
 * Field values are kept exactly as they came: times are epoch seconds as strings,
 * `preferred_*_time` may be null, `client_number` may be "Phone number not available".
 */
import { KNOWN_EVENT_TYPES, type KnownEventType } from './store-types.js';

export const WEBHOOK_EVENT_TYPES = KNOWN_EVENT_TYPES;
export type WebhookEventType = KnownEventType;

export interface CmbPayload {
  business_number?: string;
  feature_set?: string;
  client_number?: string;
  requested_at?: string | null;
  requested_date?: string | null;
  requested_slot?: string | null;
  preferred_from_time?: string | null;
  preferred_to_time?: string | null;
  is_interested?: boolean;
  alternate_number?: string | null;
  cmb_config_name?: string;
  [field: string]: unknown;
}

export interface UserResponse {
  question?: string;
  response?: string | number | null;
  [field: string]: unknown;
}

export interface SurveyPayload {
  name?: string;
  business_number?: string;
  feature_set?: string;
  client_number?: string;
  requested_at?: string | null;
  user_responses?: UserResponse[];
  [field: string]: unknown;
}

export interface WebhookEvent {
  event_id: string;
  client_account_id?: string;
  event_type: WebhookEventType;
  /** Epoch seconds, as a string in every documented example. */
  created_at: string | number;
  cmb_payload?: CmbPayload;
  survey_payload?: SurveyPayload;
  [field: string]: unknown;
}
