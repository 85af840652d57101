// Small helpers shared by the e2e tests: bounded waits (so no test can hang),
// event waits for the component-emitter style used by the npm clients, and
// Engine.IO v4 raw-protocol helpers for the HTTP long-polling transport.
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Resolves/rejects like promise, but rejects after ms with a message naming what. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for one emission of event on emitter (Node or component-emitter); resolves its args. */
export function waitEvent(emitter, event, ms = 3000) {
  return withTimeout(new Promise((resolve) => {
    emitter.once(event, (...args) => resolve(args));
  }), ms, `event "${event}"`);
}

/** Collects the next n emissions of event (each as its args array). */
export function collectEvents(emitter, event, n, ms = 5000) {
  const got = [];
  return withTimeout(new Promise((resolve) => {
    const on = (...args) => {
      got.push(args);
      if (got.length === n) { emitter.off(event, on); resolve(got); }
    };
    emitter.on(event, on);
  }), ms, `${n} "${event}" events (got ${got.length})`).catch((e) => {
    e.message += ` (collected ${got.length}: ${JSON.stringify(got).slice(0, 300)})`;
    throw e;
  });
}

/** The Engine.IO v4 long-polling payload separator (record separator). */
export const SEP = '\x1e';

/** Builds an Engine.IO URL on base with the given query parameters. */
export function eioUrl(base, query, path = '/engine.io/') {
  const qs = new URLSearchParams({ EIO: '4', ...query }).toString();
  return `${base}${path}?${qs}`;
}

/** fetch() bounded by a timeout; resolves {status, headers, body(text)}. */
export async function http(url, opts = {}, ms = 3000) {
  const res = await fetch(url, { ...opts, signal: AbortSignal.timeout(ms) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Opens a polling session with a raw GET; resolves {sid, open (parsed JSON), res}. */
export async function pollingHandshake(base, headers = {}, path = '/engine.io/') {
  const res = await http(eioUrl(base, { transport: 'polling' }, path), { headers });
  if (res.status !== 200 || res.body[0] !== '0') {
    throw new Error(`bad handshake: ${res.status} ${res.body}`);
  }
  const open = JSON.parse(res.body.slice(1));
  return { sid: open.sid, open, res };
}

/** Splits a polling payload into its packets (strings such as "4hi", "bAQID", "2"). */
export function decodePayload(body) {
  return body === '' ? [] : body.split(SEP);
}
