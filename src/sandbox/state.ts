// The sandbox's in-memory data. One object per sandbox instance, exposed on
// the handle so tests and later route modules can read and change it.
import type { AccessArea } from './types.js';
import type { FeatureSetRecord, LabelRecord, NumberRecord } from './model.js';
import { seedState } from './seed.js';

export interface AccountRecord {
  clientAccountId: string;
  /** Shown as created_by_email on seeded and newly created objects. */
  createdByEmail: string;
}

export interface ApiKeyRecord {
  keyId: string;
  apiKey: string;
  clientAccountId: string;
  name: string;
  access: ReadonlySet<AccessArea>;
}

export interface TokenRecord {
  token: string;
  keyId: string;
  clientAccountId: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; fixed at issue time so later knob changes do not extend old tokens. */
  expiresAt: number;
}

export interface SandboxState {
  account: AccountRecord;
  apiKeys: ApiKeyRecord[];
  /** token string → record */
  tokens: Map<string, TokenRecord>;
  /** Served in this order (newest first, like the documented example). */
  labels: LabelRecord[];
  featureSets: FeatureSetRecord[];
  numbers: NumberRecord[];
  /** Private state of individual route modules; see moduleState(). */
  modules: Map<string, unknown>;
}

export function createState(): SandboxState {
  return { ...seedState(), tokens: new Map(), modules: new Map() };
}

/**
 * Gives a route module its own slot of state (batches, quotas, …), created on
 * first use, so new modules need no change to SandboxState.
 */
export function moduleState<T>(state: SandboxState, name: string, init: () => T): T {
  if (!state.modules.has(name)) state.modules.set(name, init());
  return state.modules.get(name) as T;
}
