import { describe, expect, it } from 'vitest';
import { endpointIdFor, UNKNOWN_ENDPOINT } from '../../src/api/endpoints.js';
import { routes } from '../../src/sandbox/routes/index.js';
import {
  appendQuery,
  fillPlaceholders,
  listOf,
  parseMethod,
  relativePath,
  renderBody,
} from '../../src/services/tools/api-request.js';

describe('endpointIdFor', () => {
  it('names every documented endpoint the sandbox serves, by method and path', () => {
    const documented = routes.filter((route) => route.id !== 'logs-download');
    expect(documented.length).toBeGreaterThan(10);
    for (const route of documented) {
      const path = route.path.replace(/:[A-Za-z]+/g, 'a1b2-c3');
      expect(endpointIdFor(route.method, path), `${route.method} ${route.path}`).toBe(route.id);
    }
  });

  it('tells apart the same path under different methods, and knows nothing else', () => {
    expect(endpointIdFor('POST', '/v2/clients/x/dynamic_call_records')).toBe('cp-batch-v2');
    expect(endpointIdFor('get', '/v2/clients/x/dynamic_call_records/')).toBe('cp-batch-v2-status');
    expect(endpointIdFor('GET', '/clients/x/labels/extra')).toBe(UNKNOWN_ENDPOINT);
    expect(endpointIdFor('DELETE', '/clients/x/labels')).toBe(UNKNOWN_ENDPOINT);
  });

  it('a parameter is one whole path segment, and the path must match from its start', () => {
    expect(UNKNOWN_ENDPOINT).toBe('raw');
    expect(endpointIdFor('GET', '/clients/a/b/labels')).toBe(UNKNOWN_ENDPOINT);
    expect(endpointIdFor('GET', '/clients//labels')).toBe(UNKNOWN_ENDPOINT);
    expect(endpointIdFor('GET', '/proxy/clients/x/labels')).toBe(UNKNOWN_ENDPOINT);
    expect(endpointIdFor('GET', '/clients/x/labels//')).toBe(UNKNOWN_ENDPOINT);
    expect(endpointIdFor('POST', '/clients/x/token')).toBe('token-create');
    expect(endpointIdFor('GET', '/clients/x/openapi/feedback_stack/s-1/export_report')).toBe('user-feedback-logs-v1');
  });
});

describe('tcb api paths', () => {
  const base = 'https://api.example.test/prefix';

  it('takes paths below the base URL, with or without the leading slash or the base itself', () => {
    expect(relativePath('/clients/x/labels?page=2', base)).toBe('/clients/x/labels?page=2');
    expect(relativePath('clients/x/labels', base)).toBe('/clients/x/labels');
    expect(relativePath(`${base}/clients/x/labels`, base)).toBe('/clients/x/labels');
    expect(relativePath(`${base}?a=1`, base)).toBe('/?a=1');
  });

  it('refuses a URL elsewhere, where the token must not go', () => {
    expect(() => relativePath('https://evil.example.test/clients', base)).toThrow(/not below the base URL/);
    expect(() => relativePath('https://api.example.test/prefixed/x', base)).toThrow(/not below the base URL/);
    expect(() => relativePath('  ', base)).toThrow(/PATH is empty/);
  });

  it('fills the account id (encoded) and refuses any other placeholder', () => {
    expect(fillPlaceholders('/clients/{client_account_id}/x/{clientAccountId}', () => 'a/b')).toBe('/clients/a%2Fb/x/a%2Fb');
    expect(fillPlaceholders('/no/placeholder', () => {
      throw new Error('credentials are not needed here');
    })).toBe('/no/placeholder');
    expect(() => fillPlaceholders('/feature_sets/{featureSetId}', () => 'a')).toThrow(/PATH has \{featureSetId\}/);
  });

  it('appends query pairs to a path that may already have some', () => {
    expect(appendQuery('/x', [['a', '1']])).toBe('/x?a=1');
    expect(appendQuery('/x?page=2', [['a', 'b c'], ['a', '2']])).toBe('/x?page=2&a=b+c&a=2');
    expect(appendQuery('/x', [])).toBe('/x');
  });

  it('defaults the method to GET, or POST with a body, and refuses unknown ones', () => {
    expect(parseMethod(undefined, false)).toBe('GET');
    expect(parseMethod(undefined, true)).toBe('POST');
    expect(parseMethod('patch', true)).toBe('PATCH');
    expect(() => parseMethod('TRACE', false)).toThrow(/--method "TRACE" is not one of/);
  });
});

describe('listOf (--paginate)', () => {
  it('reads a bare array, and the one array of an envelope with its page count', () => {
    expect(listOf([1, 2])).toEqual({ items: [1, 2] });
    expect(listOf({ feature_sets: [1], pagination_info: { total_page_count: 3 } })).toEqual({ items: [1], totalPages: 3 });
    expect(listOf({ numbers: [], pagination_information: { total_page_count: 0 } })).toEqual({ items: [], totalPages: 0 });
    expect(listOf({ data: [1], other: [2] })).toEqual({ items: [1] });
  });

  it('says when a body is not a list', () => {
    expect(listOf({ message: 'No CMB found for client Id' })).toBeUndefined();
    expect(listOf({ a: [1], b: [2] })).toBeUndefined();
    expect(listOf('text')).toBeUndefined();
    expect(listOf(undefined)).toBeUndefined();
  });
});

describe('renderBody', () => {
  const response = (text: string | Uint8Array, type?: string) => ({
    bytes: typeof text === 'string' ? new TextEncoder().encode(text) : text,
    headers: new Headers(type ? { 'content-type': type } : {}),
  });

  it('prints JSON compact or pretty with a final newline, and anything else unchanged', () => {
    expect(renderBody(response('{ "a" : [1, 2] }', 'application/json'), false)).toBe('{"a":[1,2]}\n');
    expect(renderBody(response('{"a":1}', 'application/vnd.api+json'), true)).toBe('{\n  "a": 1\n}\n');
    const csv = new TextEncoder().encode('a,b\n1,2\n');
    expect(renderBody(response(csv, 'text/csv'), false)).toBe(csv);
    const broken = new TextEncoder().encode('{"a":');
    expect(renderBody(response(broken, 'application/json'), false)).toEqual(broken);
    const binary = new Uint8Array([0xff, 0x00, 0xfe]);
    expect(renderBody(response(binary), false)).toEqual(binary);
    expect(renderBody(response(''), false)).toBe('');
  });
});
