/**
 * Reconnection delays for our WebSocket code: capped exponential backoff with full jitter,
 * the same scheme as the Python client's `client/backoff.py`.
 *
 * Full jitter (Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015):
 * `delay = random_between(0, min(cap, base * 2 ** attempt))`. Spreading every wait over the
 * whole window keeps pages that lost the server at the same moment from all coming back at
 * the same moment. EventSource needs none of this: the browser reconnects it by itself.
 */

export class Backoff {
  /**
   * @param {{baseMs?: number, capMs?: number, factor?: number, random?: () => number}} [options]
   */
  constructor({ baseMs = 500, capMs = 10_000, factor = 2, random = Math.random } = {}) {
    this.baseMs = baseMs;
    this.capMs = capMs;
    this.factor = factor;
    this.random = random;
    this.reset();
  }

  /**
   * The delay before the next attempt; counts the attempt.
   * @returns {{delayMs: number, ceilingMs: number, attempt: number}} `ceilingMs` is the
   *   window the delay was drawn from, `attempt` counts from 1 since the last reset.
   */
  next() {
    const ceilingMs = this.ceilingMs;
    // Grow step by step instead of factor ** attempts: stays finite however long we retry.
    this.ceilingMs = Math.min(this.capMs, ceilingMs * this.factor);
    this.attempt += 1;
    return { delayMs: this.random() * ceilingMs, ceilingMs, attempt: this.attempt };
  }

  /** Start over from `baseMs`, e.g. once a connection has opened. */
  reset() {
    this.attempt = 0;
    this.ceilingMs = Math.min(this.capMs, this.baseMs);
  }
}
