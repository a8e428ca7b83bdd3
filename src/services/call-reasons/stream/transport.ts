// The stream's records reach the API through the one HTTP client: cp-batch-v2 for batches,
// cp-realtime-v2 for single records, with the stream's hooks on every attempt.
import type { ApiClient, RequestSpec } from '../../../api/client.js';
import { postBatchV2, postRealtimeV2 } from '../../../api/call-reasons.js';
import type { CommandContext } from '../../../context.js';
import type { SendHooks, StreamTransport } from './stream.js';

function hooked(client: ApiClient, hooks: SendHooks): ApiClient {
  const wrapped = Object.create(client) as ApiClient;
  wrapped.request = <T>(spec: RequestSpec) => client.request<T>({ ...spec, onSend: hooks.onSend, signal: hooks.signal });
  return wrapped;
}

/** Needs credentials: fails at once (exit 3) without them, before any input is read. */
export function apiTransport(ctx: CommandContext): StreamTransport {
  const client = ctx.api();
  const accountId = ctx.credentials().clientAccountId;
  return {
    async sendBatch(records, hooks) {
      return (await postBatchV2(hooked(client, hooks), accountId, records, { signal: hooks.signal })).batch_id;
    },
    async sendRecord(record, hooks) {
      await postRealtimeV2(hooked(client, hooks), accountId, record, { signal: hooks.signal });
    },
  };
}
