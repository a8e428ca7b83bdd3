/**
 * The contract between the webhook receiver, the exports and a store (SQLite in store.ts; a network
 * database can implement the same). Everything is async so a store may sit across a network.
 *
 * Write side (the listener): EventSink. Read side (exports): EventReader. Both speak the same
 * schema (STORE_SCHEMA_VERSION 2):
 *
 *   events(seq           integer, insertion order, never reused (the --since-last cursor)
 *          event_id      text UNIQUE: the first delivery of an event_id is THE event
 *          event_type    text NULL: as sent when it is a string (may be unknown), else NULL
 *          created_at    text NULL: as sent (a number is kept as its JSON text), NULL when missing
 *          created_at_ms integer NULL: created_at read as epoch seconds, NULL when unreadable
 *          received_at_ms, last_received_ms  integer: first and latest delivery (epoch ms)
 *          deliveries    integer: every delivery of this event_id, conflicting ones included
 *          body          blob: the request body exactly as received (BOM, invalid UTF-8 and all)
 *          unrecognised  0/1, unrecognised_reason text NULL: why it is not a documented event
 *          conflicts     integer: deliveries whose body differed from the first)
 *   event_conflicts(id, event_id, received_at_ms, body blob): each delivery of a known event_id
 *          whose bytes differ from the stored body
 */

/** The event types the API documents; anything else is stored as unrecognised. */
export const KNOWN_EVENT_TYPES = ['cmb', 'user_feedback'] as const;
export type KnownEventType = (typeof KNOWN_EVENT_TYPES)[number];

export const STORE_SCHEMA_VERSION = 2;

/** One authenticated delivery, classified by the listener and ready to store. */
export interface EventToStore {
  event_id: string;
  /** The event_type string as sent; null when missing or not a string. */
  event_type: string | null;
  /** created_at as sent (a number as its JSON text); null when missing or not a string/number. */
  created_at: string | null;
  /** created_at as epoch ms; null when it is not epoch seconds. */
  created_at_ms: number | null;
  /** The request body, byte for byte. */
  body: Uint8Array;
  /** Why this is not a documented event (unknown type, a field of an odd type…); null when it is. */
  unrecognised_reason: string | null;
}

/**
 * What one delivery did to the store:
 * - stored: a new event_id;
 * - duplicate: a redelivery with the same bytes (deliveries went up);
 * - conflict: a redelivery with other bytes: the first stays the event, this body is kept in
 *   event_conflicts, deliveries and conflicts went up.
 */
export type InsertOutcome = 'stored' | 'duplicate' | 'conflict';

export interface InsertResult {
  seq: number;
  outcome: InsertOutcome;
  /** The event's counts after this delivery. */
  deliveries: number;
  conflicts: number;
}

export interface WritableCheck {
  ok: boolean;
  /** Why nothing can be stored (disk full, read-only, store file deleted…), for /healthz and logs. */
  reason?: string;
}

/** The listener's side of a store. */
export interface EventSink {
  /** Where the events go, for messages (a path; a URL with its password masked). */
  readonly location: string;
  /**
   * Stores the events in ONE transaction and resolves only after it is durable (committed and
   * synced); results are in the order of `events`. Rejects when nothing was stored: then no
   * delivery in the batch may be acknowledged. `receivedAtMs` is the time recorded for all of them.
   */
  insertBatch(events: readonly EventToStore[], receivedAtMs: number): Promise<InsertResult[]>;
  /** A real write (a tiny transaction), not a ping: ok only if an event could be stored now. */
  checkWritable(): Promise<WritableCheck>;
  /** How many events are stored (for the ready line). */
  count(): Promise<number>;
  /** Commit what is pending and release the store. Idempotent. */
  close(): Promise<void>;
}

/** The export side: which events to read. */
export interface WebhookEventFilter {
  /**
   * Events of this type, plus every event whose type is not a documented one (unknown or missing),
   * so an unrecognised event shows up in both exports rather than in neither.
   */
  type?: KnownEventType;
  /** Inclusive lower bound on created_at_ms. Events without a readable created_at match no range. */
  fromMs?: number;
  /** Exclusive upper bound on created_at_ms. */
  toMs?: number;
  /** Only events with seq > afterSeq. */
  afterSeq?: number;
  /** Only events with seq <= upToSeq (a snapshot taken with lastSeq()). */
  upToSeq?: number;
  /** Stop after this many events. */
  limit?: number;
}

/** One stored event as exports read it. */
export interface StoredWebhookEvent {
  /** Insertion order: only grows, never reused (a redelivery may leave a gap). */
  seq: number;
  event_id: string;
  event_type: string | null;
  created_at: string | null;
  created_at_ms: number | null;
  /** First delivery, ISO-8601 UTC. */
  received_at: string;
  received_at_ms: number;
  last_received_ms: number;
  deliveries: number;
  conflicts: number;
  /** null for a documented event. */
  unrecognised_reason: string | null;
  /** The request body, byte for byte (decode only to export: see records.ts). */
  body: Uint8Array;
}

/** The exports' side of a store. */
export interface EventReader {
  readonly location: string;
  /** Events in seq order, read in chunks (memory stays flat whatever the store's size). */
  events(filter?: WebhookEventFilter): AsyncIterable<StoredWebhookEvent>;
  /** The largest seq stored (0 when empty) among events the filter's `type` selects. */
  lastSeq(type?: KnownEventType): Promise<number>;
  /** How many events match (limit ignored). */
  count(filter?: Omit<WebhookEventFilter, 'limit'>): Promise<number>;
  close(): Promise<void>;
}

/** A conflicting delivery, for inspection. */
export interface StoredConflict {
  event_id: string;
  received_at_ms: number;
  body: Uint8Array;
}
