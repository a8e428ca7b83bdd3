// Sliding-log limiter: a request is admitted when fewer than `limit` admitted
// requests have t > now - windowMs. Rejected attempts are not logged, so a
// client that backs off as told gets through when the window moves on.

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number };

export class SlidingWindowLimiter {
  private readonly log = new Map<string, number[]>();

  tryAdmit(key: string, limit: number, windowMs: number, now: number): Admission {
    const recent = (this.log.get(key) ?? []).filter((t) => t > now - windowMs);
    if (recent.length >= limit) {
      this.log.set(key, recent);
      if (limit <= 0) return { admitted: false, retryAfterMs: windowMs };
      // The slot frees when the entry that keeps the count at `limit` leaves the window.
      const blocking = recent[recent.length - limit]!;
      return { admitted: false, retryAfterMs: Math.max(0, blocking + windowMs - now) };
    }
    recent.push(now);
    this.log.set(key, recent);
    return { admitted: true };
  }

  clear(): void {
    this.log.clear();
  }
}

/** Retry-After is whole seconds, rounded up, never 0 (0 would invite an instant retry). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}
