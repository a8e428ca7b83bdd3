// labels-get: the account's dynamic labels, a bare array (API reference §6.1).
import type { RouteContext, RouteDefinition, RouteResponse } from '../types.js';
import { toLabelJson } from '../model.js';
import { paginate, positiveIntParam } from './query.js';

const DEFAULT_LIMIT = 1000; // VB-old OpenAPI default

function listLabels(ctx: RouteContext): RouteResponse {
  const page = positiveIntParam(ctx.query, 'page', 1);
  const limit = positiveIntParam(ctx.query, 'limit', DEFAULT_LIMIT);
  // No page envelope: past the last page the answer is simply [].
  return { status: 200, json: paginate(ctx.state.labels, page, limit).items.map(toLabelJson) };
}

export const labelRoutes: RouteDefinition[] = [
  { id: 'labels-get', method: 'GET', path: '/clients/:clientAccountId/labels', access: 'labels', handler: listLabels },
];
