/**
 * When and how long to wait before sending a request again. Retried: 408, 429, 5xx (but 501:
 * not implemented will not change), and connection failures (reset, refused, broken pipe, socket
 * hang up, timeout). Backoff doubles from `baseMs` up to `maxDelayMs`, with jitter so that many
 * uploads hitting one 503 do not come back at the same instant; a `Retry-After` (seconds or an
 * HTTP date) is honoured up to `maxDelayMs`. Bounded twice: `attempts` sends per request, and
 * `budgetMs` of waiting per request, whichever comes first.
 */
export interface RetryPolicy {
  /** Sends per request, the first included (default 6). */
  readonly attempts: number;
  /** First backoff (default 500 ms). */
  readonly baseMs: number;
  /** Longest single wait (default 15 s). */
  readonly maxDelayMs: number;
  /** Longest total wait for one request (default 60 s). */
  readonly budgetMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseMs: 500, maxDelayMs: 15_000, budgetMs: 60_000 };

export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

const RETRYABLE_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENETWORK", "ERR_STREAM_PREMATURE_CLOSE"]);

export function retryableCode(code: string): boolean {
  return RETRYABLE_CODES.has(code);
}

/** Milliseconds a Retry-After header asks for (delta seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === "") return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Tracks one request's attempts against the policy. */
export class Backoff {
  private attempt = 0;
  private waited = 0;

  constructor(private readonly policy: RetryPolicy) {}

  /** The wait before the next send, or undefined when the budget is spent. */
  next(retryAfterMs?: number): number | undefined {
    this.attempt++;
    if (this.attempt >= this.policy.attempts) return undefined;
    const exp = Math.min(this.policy.maxDelayMs, this.policy.baseMs * 2 ** (this.attempt - 1));
    const jittered = exp / 2 + Math.random() * (exp / 2);
    const delay = Math.min(this.policy.maxDelayMs, retryAfterMs ?? jittered);
    if (this.waited + delay > this.policy.budgetMs) return undefined;
    this.waited += delay;
    return delay;
  }

  get attempts(): number {
    return this.attempt + 1;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
