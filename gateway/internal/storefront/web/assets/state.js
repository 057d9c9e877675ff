// What the page remembers between visits, in localStorage: the session (an access token and
// when it expires), the cart, and the trace ID of each order placed from this browser.
// Storage can be full or switched off; the page then simply forgets, it never fails.

const SESSION = 'tracecart.session';
const CART = 'tracecart.cart';
const TRACES = 'tracecart.traces';

function load(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage unavailable: keep the value in memory only
  }
}

/** The signed-in user's access token, or "" once it has expired. */
export function sessionToken() {
  const s = load(SESSION, null);
  if (!s || typeof s.token !== 'string' || Date.now() >= s.expiresAt) return '';
  return s.token;
}

export function saveSession(token, expiresInSeconds) {
  // Forget the token a little before the server would refuse it.
  save(SESSION, { token, expiresAt: Date.now() + Math.max(0, expiresInSeconds - 10) * 1000 });
}

export function clearSession() {
  save(SESSION, null);
}

/** The cart: product ID → {name, priceCents, quantity}. */
export function loadCart() {
  const c = load(CART, {});
  return c && typeof c === 'object' ? c : {};
}

export function saveCart(cart) {
  save(CART, cart);
}

/** The trace ID of an order placed here, if known. */
export function traceOf(orderId) {
  return load(TRACES, {})[orderId] || '';
}

export function rememberTrace(orderId, traceId) {
  if (!traceId) return;
  const traces = load(TRACES, {});
  traces[orderId] = traceId;
  // Keep the latest hundred orders.
  const keys = Object.keys(traces);
  for (const k of keys.slice(0, Math.max(0, keys.length - 100))) delete traces[k];
  save(TRACES, traces);
}
