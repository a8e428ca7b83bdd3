// The one-line status of `tcb call-reason stream` on a terminal: records in, sent, request rate,
// buffered. Redrawn every second on stderr; other stderr lines clear it first.
import type { Output } from '../output/output.js';

export interface StreamStatusSource {
  recordsIn: number;
  accepted: number;
  rejected: number;
  requests: number;
  buffered: number;
  inFlight: number;
}

export interface StatusLine {
  /** Call before writing anything else on stderr. */
  clear(): void;
  stop(): void;
}

const WINDOW_MS = 60_000;

export function streamStatusLine(output: Output, read: () => StreamStatusSource): StatusLine | undefined {
  if (!output.showsProgress) return undefined;
  const samples: { at: number; requests: number }[] = [];
  let drawn = false;
  const draw = () => {
    const stats = read();
    const now = Date.now();
    samples.push({ at: now, requests: stats.requests });
    while (samples.length > 2 && now - samples[0]!.at > WINDOW_MS) samples.shift();
    const first = samples[0]!;
    const spanMs = now - first.at;
    const perMin = spanMs > 0 ? ((stats.requests - first.requests) / spanMs) * 60_000 : 0;
    const text =
      `records in ${stats.recordsIn} · sent ${stats.accepted} · rejected ${stats.rejected} · ` +
      `${perMin.toFixed(1)} req/min · buffered ${stats.buffered} · in flight ${stats.inFlight}`;
    output.stderr.write(`\r\x1b[2K${output.errColor.dim(text)}`);
    drawn = true;
  };
  const timer = setInterval(draw, 1000);
  timer.unref();
  const clear = () => {
    if (drawn) output.stderr.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    clear,
    stop() {
      clearInterval(timer);
      clear();
    },
  };
}
