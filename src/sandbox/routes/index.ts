// The route table. To add endpoints, write a module exporting RouteDefinition[]
// (id = the endpoint id from endpoints.json) and list it here; the core needs no change.
import type { RouteDefinition } from '../types.js';
import { tokenRoutes } from './token.js';
import { labelRoutes } from './labels.js';
import { featureSetRoutes } from './feature-sets.js';
import { numberRoutes } from './numbers.js';
import { callReasonRoutes } from './call-reasons.js';
import { logRoutes } from './logs.js';

export const routes: readonly RouteDefinition[] = [...tokenRoutes, ...labelRoutes, ...featureSetRoutes, ...numberRoutes, ...callReasonRoutes, ...logRoutes];
