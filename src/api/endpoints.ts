/**
 * The documented endpoints by method and path (api/endpoints.json), so a raw request
 * (`tcb api`) gets the same rate limiter and error mapping as the command built for it.
 */
interface KnownEndpoint {
  id: string;
  method: string;
  /** Path with {params}; a param matches one path segment. */
  path: string;
}

export const KNOWN_ENDPOINTS: readonly KnownEndpoint[] = [
  { id: 'token-create', method: 'POST', path: '/clients/{clientAccountId}/token' },
  { id: 'numbers-list', method: 'POST', path: '/clients/{clientAccountId}/number_management/feature_sets/{featureSetId}/numbers/publish' },
  { id: 'numbers-delist', method: 'POST', path: '/clients/{clientAccountId}/number_management/feature_sets/{featureSetId}/numbers/delist' },
  { id: 'numbers-details', method: 'GET', path: '/clients/{clientAccountId}/number_management/numbers' },
  { id: 'feature-sets-get', method: 'GET', path: '/clients/{clientAccountId}/number_management/feature_sets' },
  { id: 'labels-get', method: 'GET', path: '/clients/{clientAccountId}/labels' },
  { id: 'cp-realtime-v2', method: 'POST', path: '/v2/clients/{clientAccountId}/dynamic_call_record' },
  { id: 'cp-batch-v2', method: 'POST', path: '/v2/clients/{clientAccountId}/dynamic_call_records' },
  { id: 'cp-batch-v2-status', method: 'GET', path: '/v2/clients/{clientAccountId}/dynamic_call_records' },
  { id: 'cp-batch-v2-status', method: 'GET', path: '/v3/clients/{clientAccountId}/dynamic_call_records' },
  { id: 'cp-realtime-v1', method: 'POST', path: '/clients/{clientAccountId}/dynamic_call_record' },
  { id: 'cp-bulk-v1', method: 'POST', path: '/clients/{clientAccountId}/dynamic_call_records' },
  { id: 'cp-batch-status-v1', method: 'GET', path: '/clients/{clientAccountId}/dynamic_call_records' },
  { id: 'cmb-logs-v1', method: 'GET', path: '/clients/{clientAccountId}/openapi/callback-logs/summary' },
  { id: 'user-feedback-logs-v1', method: 'GET', path: '/clients/{clientAccountId}/openapi/feedback_stack/{surveyId}/export_report' },
];

/** The id given to a request that matches no documented endpoint: no rate limit, generic errors. */
export const UNKNOWN_ENDPOINT = 'raw';

const compiled = KNOWN_ENDPOINTS.map((endpoint) => ({
  ...endpoint,
  pattern: new RegExp(`^${endpoint.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
}));

/** The endpoint id for a method and path (query string ignored), or UNKNOWN_ENDPOINT. */
export function endpointIdFor(method: string, pathname: string): string {
  const upper = method.toUpperCase();
  return compiled.find((endpoint) => endpoint.method === upper && endpoint.pattern.test(pathname))?.id ?? UNKNOWN_ENDPOINT;
}
