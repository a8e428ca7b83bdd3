// Matches "METHOD /path" against the route table. Patterns use :name segments.
import type { HttpMethod, RouteDefinition } from './types.js';

interface CompiledRoute {
  route: RouteDefinition;
  segments: string[];
}

export type RouteMatch =
  | { kind: 'found'; route: RouteDefinition; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: HttpMethod[] }
  | { kind: 'not-found' };

function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i]!;
    let segment: string;
    try {
      segment = decodeURIComponent(actual[i]!);
    } catch {
      return undefined; // malformed %-escape: cannot be any known path
    }
    if (expected.startsWith(':')) params[expected.slice(1)] = segment;
    else if (expected !== segment) return undefined;
  }
  return params;
}

export class Router {
  private readonly compiled: CompiledRoute[];

  constructor(routes: readonly RouteDefinition[]) {
    const seen = new Set<string>();
    for (const route of routes) {
      const key = `${route.method} ${route.path}`;
      if (seen.has(key)) throw new Error(`duplicate sandbox route: ${key}`);
      seen.add(key);
    }
    this.compiled = routes.map((route) => ({ route, segments: splitPath(route.path) }));
  }

  endpointIds(): Set<string> {
    return new Set(this.compiled.map((c) => c.route.id));
  }

  match(method: string, pathname: string): RouteMatch {
    const actual = splitPath(pathname);
    const allowed: HttpMethod[] = [];
    for (const { route, segments } of this.compiled) {
      const params = matchSegments(segments, actual);
      if (!params) continue;
      if (route.method === method) return { kind: 'found', route, params };
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
  }
}
