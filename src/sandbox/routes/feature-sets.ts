// feature-sets-get: feature sets with filters and a pagination_info envelope (API reference §5.5).
import type { RouteContext, RouteDefinition, RouteResponse } from '../types.js';
import type { FeatureSetRecord } from '../model.js';
import { toFeatureSetJson } from '../model.js';
import { filterParam, paginate, positiveIntParam } from './query.js';

const DEFAULT_LIMIT = 50; // page_limit in the documented example

function matchesFilters(fs: FeatureSetRecord, query: URLSearchParams): boolean {
  const departmentId = filterParam(query, 'department_id');
  const operationId = filterParam(query, 'operation_id');
  const processId = filterParam(query, 'process_id');
  if (departmentId && fs.department_id !== departmentId) return false;
  // Lenient: the docs never say whether operation_id means operation_id or calling_operation_id.
  if (operationId && fs.operation_id !== operationId && fs.calling_operation_id !== operationId) return false;
  // "process or sub-process" (§5.5).
  if (processId && fs.process_id !== processId && fs.parent_process_id !== processId) return false;
  return true;
}

function listFeatureSets(ctx: RouteContext): RouteResponse {
  const page = positiveIntParam(ctx.query, 'page', 1);
  const limit = positiveIntParam(ctx.query, 'limit', DEFAULT_LIMIT);
  const matching = ctx.state.featureSets.filter((fs) => matchesFilters(fs, ctx.query));
  const result = paginate(matching, page, limit);
  return {
    status: 200,
    json: {
      feature_sets: result.items.map(toFeatureSetJson),
      pagination_info: {
        total_page_count: result.totalPages,
        current_page: result.page,
        page_limit: result.limit,
      },
    },
  };
}

export const featureSetRoutes: RouteDefinition[] = [
  {
    id: 'feature-sets-get',
    method: 'GET',
    path: '/clients/:clientAccountId/number_management/feature_sets',
    access: 'number-management',
    handler: listFeatureSets,
  },
];
