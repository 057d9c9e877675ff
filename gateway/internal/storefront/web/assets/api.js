// The storefront's one way to call the gateway: JSON in and out, problem+json answers turned into
// ApiError, and the trace ID of every answer (the gateway's X-Trace-Id header) handed back so the
// page can link to the request's trace in Jaeger.

/** An answer with a 4xx or 5xx status; detail comes from the RFC 9457 problem document. */
export class ApiError extends Error {
  constructor(status, problem, traceId) {
    super((problem && (problem.detail || problem.title)) || `The gateway answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
    this.traceId = traceId;
    this.retryAfter = 0;
  }
}

/**
 * Calls the gateway's API.
 * @param {string} method
 * @param {string} path under /api, such as "/products"
 * @param {{body?: unknown, token?: string, idempotencyKey?: string, fresh?: boolean,
 *   headers?: Record<string, string>}} [options]
 *   fresh asks every cache on the way, the gateway's included, for a new answer; headers are
 *   sent as they are (If-None-Match and Prefer for a long poll).
 * @returns {Promise<{status: number, data: any, traceId: string, etag: string, waited: boolean}>}
 *   status 304 (Not Modified, data null) is an answer, not an error; etag is the answer's ETag,
 *   and waited says that the server honoured a Prefer: wait (Preference-Applied).
 */
export async function call(method, path, options = {}) {
  const headers = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
  Object.assign(headers, options.headers);

  let response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: options.fresh ? 'no-cache' : 'default',
    });
  } catch {
    throw new ApiError(0, { detail: 'The shop cannot be reached. Check your connection and try again.' }, '');
  }
  const traceId = response.headers.get('X-Trace-Id') || '';
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok && response.status !== 304) {
    const err = new ApiError(response.status, data, traceId);
    err.retryAfter = Number(response.headers.get('Retry-After')) || 0;
    throw err;
  }
  return {
    status: response.status, data, traceId,
    etag: response.headers.get('ETag') || '',
    waited: response.headers.has('Preference-Applied'),
  };
}

/** A random UUID for Idempotency-Key, also where crypto.randomUUID is missing (plain http). */
export function newKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
