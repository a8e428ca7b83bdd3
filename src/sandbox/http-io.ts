// Low-level reading and writing of requests/responses on node:http.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteResponse } from './types.js';

/** Far above the largest documented request (10 000 numbers, or 500 call records). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export class BodyTooLargeError extends Error {}

export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) throw new BodyTooLargeError(`request body exceeds ${maxBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

export type ParsedBody = { ok: true; value: unknown } | { ok: false; error: string };

/** An empty body parses to undefined; handlers decide whether that is allowed. */
export function parseJsonBody(raw: Buffer): ParsedBody {
  const text = raw.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: `request body is not valid JSON: ${(error as Error).message}` };
  }
}

export function writeResponse(res: ServerResponse, response: RouteResponse): void {
  for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
  if ('json' in response) {
    const payload = JSON.stringify(response.json);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(payload));
    res.writeHead(response.status);
    res.end(payload);
  } else {
    res.setHeader('Content-Type', response.contentType);
    res.setHeader('Content-Length', Buffer.byteLength(response.raw));
    res.writeHead(response.status);
    res.end(response.raw);
  }
}
