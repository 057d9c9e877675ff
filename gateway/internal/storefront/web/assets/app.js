// The storefront page: browse the catalogue, sign in or register, fill a cart, place an order
// and watch its saga reach a final state, with a link to the order's trace in Jaeger.
// Plain DOM code, no framework: every piece of text from the API goes in through textContent.

import { call, newKey, ApiError } from './api.js';
import * as state from './state.js';

const FINAL = new Set(['CONFIRMED', 'REJECTED', 'CANCELLED']);
const POLL_EVERY_MS = 400;
const POLL_FOR_MS = 60_000;
const LONG_POLL = 'wait=4'; // order-service waits at most 4 s, under the gateway's 5 s timeout

const jaegerUI = document.querySelector('meta[name="jaeger-ui-url"]').content.replace(/\/+$/, '');
const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const $ = (id) => document.getElementById(id);

const page = {
  user: null,              // GET /users/me, while signed in
  products: new Map(),     // product ID → product, as last listed
  cart: state.loadCart(),  // product ID → {name, priceCents, quantity}
  checkoutKey: '',         // Idempotency-Key of the order being placed, reused on a retry
  afterSignIn: null,       // what to do once the dialog has signed the user in
  tracking: 0,             // generation of the tracker, so an old poll loop stops
  registering: false,
};

/** el builds an element: el('p', {class: 'x', text: 'hi'}, child...). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children);
  return node;
}

function traceURL(traceId) {
  return `${jaegerUI}/trace/${traceId}`;
}

function say(node, text, isError = false) {
  node.textContent = text;
  node.classList.toggle('error', isError);
}

function explain(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) return `Slow down a little: ${err.message}`;
    return err.message;
  }
  return 'Something went wrong. Please try again.';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------- account

async function refreshAccount() {
  const token = state.sessionToken();
  page.user = null;
  if (token) {
    try {
      page.user = (await call('GET', '/users/me', { token, fresh: true })).data;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) state.clearSession();
    }
  }
  renderAccount();
}

function renderAccount() {
  const signedIn = Boolean(page.user);
  $('sign-in').hidden = signedIn;
  $('sign-out').hidden = !signedIn;
  $('top-up').hidden = !signedIn;
  $('whoami').hidden = !signedIn;
  $('wallet').hidden = !signedIn;
  if (signedIn) {
    $('whoami').textContent = page.user.name || page.user.email;
    $('wallet').textContent = money.format((page.user.balance_cents || 0) / 100);
  }
  renderCart();
}

async function topUp() {
  const button = $('top-up');
  button.disabled = true;
  try {
    await call('POST', '/users/me/wallet/top-ups', {
      token: state.sessionToken(), body: { amount_cents: 5000 }, idempotencyKey: newKey(),
    });
    await refreshAccount();
  } catch (err) {
    say($('cart-message'), explain(err), true);
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  state.clearSession();
  page.user = null;
  renderAccount();
  if (!$('view-orders').hidden) showView('shop');
}

// ---------------------------------------------------------------------------------- sign-in dialog

function openSignIn(then = null) {
  page.afterSignIn = then;
  setMode(false);
  say($('auth-error'), '');
  $('auth-form').reset();
  $('auth-dialog').showModal();
}

function setMode(registering) {
  page.registering = registering;
  $('mode-login').setAttribute('aria-pressed', String(!registering));
  $('mode-register').setAttribute('aria-pressed', String(registering));
  $('name-field').hidden = !registering;
  $('auth-title').textContent = registering ? 'Create an account' : 'Sign in';
  $('auth-submit').textContent = registering ? 'Create account' : 'Sign in';
  $('auth-form').elements.password.autocomplete = registering ? 'new-password' : 'current-password';
}

async function submitAuth(event) {
  event.preventDefault();
  const form = $('auth-form').elements;
  const email = form.email.value.trim();
  const password = form.password.value;
  const name = form.name.value.trim();
  if (!email || !password || (page.registering && !name)) {
    say($('auth-error'), page.registering ? 'Name, email and password are required.' : 'Email and password are required.', true);
    return;
  }
  const submit = $('auth-submit');
  submit.disabled = true;
  say($('auth-error'), '');
  try {
    if (page.registering) {
      await call('POST', '/auth/register', { body: { email, password, name } });
    }
    const { data } = await call('POST', '/auth/login', { body: { email, password } });
    state.saveSession(data.access_token, data.expires_in);
    $('auth-dialog').close();
    await refreshAccount();
    const then = page.afterSignIn;
    page.afterSignIn = null;
    if (then) await then();
  } catch (err) {
    say($('auth-error'), explain(err), true);
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------------------------- catalogue

let searchTimer = 0;

async function loadProducts({ fresh = false } = {}) {
  const params = new URLSearchParams({ limit: '100' });
  const q = $('search').value.trim();
  const category = $('category').value;
  if (q) params.set('q', q);
  if (category) params.set('category', category);
  try {
    const { data } = await call('GET', `/products?${params}`, { fresh });
    for (const p of data.items) page.products.set(p.id, p);
    renderProducts(data.items);
    say($('products-status'), data.items.length ? '' : 'No products match.');
  } catch (err) {
    say($('products-status'), explain(err), true);
  }
}

function renderProducts(items) {
  const cards = items.map((p) => {
    const soldOut = p.stock <= 0;
    const stockText = soldOut ? 'Sold out' : p.stock <= 5 ? `Only ${p.stock} left` : `${p.stock} in stock`;
    const stockClass = soldOut ? 'stock out' : p.stock <= 5 ? 'stock low' : 'stock';
    return el('article', { class: 'card', 'data-product-id': p.id },
      el('div', { class: `art ${p.category}`, 'aria-hidden': 'true', text: p.name.charAt(0) }),
      el('div', { class: 'card-body' },
        el('h3', { text: p.name }),
        el('p', { class: 'desc', text: p.description }),
        el('div', { class: 'meta' },
          el('span', { class: 'price', text: money.format(p.price_cents / 100) }),
          el('span', { class: stockClass, text: stockText })),
        el('button', {
          type: 'button', class: 'primary add', disabled: soldOut, text: soldOut ? 'Sold out' : 'Add to cart',
          onclick: () => addToCart(p),
        })));
  });
  $('products').replaceChildren(...cards);
}

// ---------------------------------------------------------------------------------- cart

function addToCart(p) {
  const line = page.cart[p.id] || { name: p.name, priceCents: p.price_cents, quantity: 0 };
  line.quantity = Math.min(line.quantity + 1, Math.max(p.stock, 1));
  line.priceCents = p.price_cents;
  page.cart[p.id] = line;
  page.checkoutKey = '';
  say($('cart-message'), '');
  saveAndRenderCart();
}

function changeQuantity(id, delta) {
  const line = page.cart[id];
  if (!line) return;
  line.quantity += delta;
  if (line.quantity <= 0) delete page.cart[id];
  page.checkoutKey = '';
  saveAndRenderCart();
}

function saveAndRenderCart() {
  state.saveCart(page.cart);
  renderCart();
}

function renderCart() {
  const entries = Object.entries(page.cart);
  let total = 0;
  const lines = entries.map(([id, line]) => {
    total += line.priceCents * line.quantity;
    return el('li', { class: 'cart-line' },
      el('span', { class: 'name', text: line.name, title: line.name }),
      el('span', { class: 'qty' },
        el('button', { type: 'button', 'aria-label': `One less ${line.name}`, text: '−', onclick: () => changeQuantity(id, -1) }),
        el('span', { text: String(line.quantity) }),
        el('button', { type: 'button', 'aria-label': `One more ${line.name}`, text: '+', onclick: () => changeQuantity(id, 1) })),
      el('span', { text: money.format((line.priceCents * line.quantity) / 100) }));
  });
  $('cart-lines').replaceChildren(...lines);
  $('cart-empty').hidden = entries.length > 0;
  $('cart-total').textContent = money.format(total / 100);
  $('checkout').disabled = entries.length === 0;

  // The saga would cancel an order the wallet cannot pay for; say so before, not after.
  const short = page.user && total > (page.user.balance_cents || 0);
  $('cart-hint').hidden = !short;
  if (short) {
    $('cart-hint').textContent = `Your wallet holds ${money.format((page.user.balance_cents || 0) / 100)}: ` +
      'add funds first, or the payment step will cancel the order.';
  }
}

async function checkout() {
  if (!state.sessionToken()) {
    openSignIn(checkout);
    return;
  }
  const lines = Object.entries(page.cart).map(([id, line]) => ({ product_id: id, quantity: line.quantity }));
  if (lines.length === 0) return;
  // One key per cart: a double click or a retry after a lost answer places the order once.
  page.checkoutKey ||= newKey();
  const button = $('checkout');
  button.disabled = true;
  say($('cart-message'), 'Placing your order…');
  try {
    const { data: order, traceId, etag } = await call('POST', '/orders', {
      token: state.sessionToken(), body: { lines }, idempotencyKey: page.checkoutKey,
    });
    state.rememberTrace(order.id, traceId);
    page.cart = {};
    page.checkoutKey = '';
    saveAndRenderCart();
    say($('cart-message'), 'Order placed. Watch it below.');
    track(order, traceId, etag);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      state.clearSession();
      await refreshAccount();
      openSignIn(checkout);
      return;
    }
    say($('cart-message'), explain(err), true);
  } finally {
    button.disabled = Object.keys(page.cart).length === 0;
  }
}

// ---------------------------------------------------------------------------------- order tracking

function renderTracking(order, traceId) {
  $('tracking').hidden = false;
  $('tracking-id').textContent = `#${order.id.slice(0, 8)}`;
  $('tracking-id').title = order.id;
  const badge = $('tracking-status');
  badge.textContent = order.status;
  badge.className = `badge ${order.status}`;

  const final = FINAL.has(order.status);
  const ok = order.status === 'CONFIRMED';
  $('step-placed').className = 'done';
  $('step-saga').className = final ? (ok || order.status === 'CANCELLED' ? 'done' : 'bad') : 'done active';
  $('step-final').className = final ? (ok ? 'ok' : 'bad') : '';
  $('step-final').textContent = final ? order.status.charAt(0) + order.status.slice(1).toLowerCase() : 'Outcome';

  const total = money.format(order.total_cents / 100);
  const detail = {
    PENDING: `Total ${total}. Reserving stock and taking payment…`,
    CONFIRMED: `Confirmed: ${total} paid from your wallet.`,
    REJECTED: `Rejected${order.reason ? `: ${order.reason}` : ''}. Nothing was charged.`,
    CANCELLED: `Cancelled${order.reason ? `: ${order.reason}` : ''}. Any payment was refunded.`,
  }[order.status] || order.status;
  $('tracking-detail').textContent = detail;

  const link = $('tracking-trace');
  link.hidden = !traceId;
  if (traceId) link.href = traceURL(traceId);
}

// track follows an order's saga until it ends. Each read is a long poll (If-None-Match with the
// version on screen, Prefer: wait): order-service answers when the order changes, or with 304
// after a few seconds, so a saga is usually followed in one or two requests. Should the answer
// not honour the wait, it falls back to reading every POLL_EVERY_MS.
async function track(order, traceId, etag = '') {
  const generation = ++page.tracking;
  renderTracking(order, traceId);
  const deadline = Date.now() + POLL_FOR_MS;
  let current = order;
  while (!FINAL.has(current.status) && Date.now() < deadline) {
    let wait = etag ? 0 : POLL_EVERY_MS;
    try {
      const headers = etag ? { 'If-None-Match': etag, Prefer: LONG_POLL } : {};
      const answer = await call('GET', `/orders/${order.id}`, { token: state.sessionToken(), fresh: true, headers });
      if (answer.status !== 304) current = answer.data;
      etag = answer.waited ? answer.etag : '';
      if (!etag) wait = POLL_EVERY_MS;
    } catch (err) {
      wait = POLL_EVERY_MS;
      if (err instanceof ApiError && err.retryAfter) wait = err.retryAfter * 1000;
      if (err instanceof ApiError && err.status === 401) return;
    }
    if (generation !== page.tracking) return;
    renderTracking(current, traceId);
    if (!FINAL.has(current.status) && wait) await sleep(wait);
  }
  if (!FINAL.has(current.status)) {
    $('tracking-detail').textContent = 'Still working on it; check Orders in a moment.';
    return;
  }
  // The saga has moved money and stock: show the new numbers, past every cache.
  await Promise.all([refreshAccount(), loadProducts({ fresh: true })]);
}

// ---------------------------------------------------------------------------------- orders view

async function loadOrders() {
  const token = state.sessionToken();
  if (!token) {
    $('orders').replaceChildren();
    say($('orders-status'), 'Sign in to see your orders.');
    return;
  }
  say($('orders-status'), 'Loading…');
  try {
    const { data } = await call('GET', '/orders?limit=50', { token, fresh: true });
    say($('orders-status'), data.items.length ? '' : 'No orders yet.');
    $('orders').replaceChildren(...data.items.map(renderOrder));
  } catch (err) {
    say($('orders-status'), explain(err), true);
  }
}

function renderOrder(order) {
  const lines = order.lines.map((l) => {
    const p = page.products.get(l.product_id);
    return `${l.quantity} × ${p ? p.name : l.product_id.slice(0, 8)}`;
  }).join(', ');
  const traceId = state.traceOf(order.id);
  return el('li', { class: 'order', 'data-order-id': order.id },
    el('div', { class: 'order-head' },
      el('code', { text: `#${order.id.slice(0, 8)}`, title: order.id }),
      el('span', { class: `badge ${order.status}`, text: order.status })),
    el('p', { class: 'lines', text: lines }),
    el('div', { class: 'foot' },
      el('span', { text: `${new Date(order.created_at).toLocaleString()} · ${money.format(order.total_cents / 100)}${order.reason ? ` · ${order.reason}` : ''}` }),
      traceId
        ? el('a', { class: 'trace-link', href: traceURL(traceId), target: '_blank', rel: 'noopener noreferrer', text: 'Trace' })
        : el('span', { class: 'muted', text: '' })));
}

function showView(name) {
  const orders = name === 'orders';
  $('view-shop').hidden = orders;
  $('view-orders').hidden = !orders;
  $('tab-shop').setAttribute('aria-pressed', String(!orders));
  $('tab-orders').setAttribute('aria-pressed', String(orders));
  if (orders) loadOrders();
}

// ---------------------------------------------------------------------------------- start

function start() {
  $('sign-in').addEventListener('click', () => openSignIn());
  $('sign-out').addEventListener('click', signOut);
  $('top-up').addEventListener('click', topUp);
  $('mode-login').addEventListener('click', () => setMode(false));
  $('mode-register').addEventListener('click', () => setMode(true));
  $('auth-cancel').addEventListener('click', () => $('auth-dialog').close());
  $('auth-form').addEventListener('submit', submitAuth);
  $('checkout').addEventListener('click', checkout);
  $('tab-shop').addEventListener('click', () => showView('shop'));
  $('tab-orders').addEventListener('click', () => showView('orders'));
  $('refresh-orders').addEventListener('click', loadOrders);
  $('category').addEventListener('change', () => loadProducts());
  $('search').addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => loadProducts(), 250);
  });

  renderCart();
  refreshAccount();
  loadProducts();
}

start();
