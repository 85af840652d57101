// sioc-chat in a real browser (issue 4, "Tests"): Debian's headless Chromium
// driven by npm playwright-core loads the page and the client bundle from
// the server under test (the C program, or with SIOC_REF=1 the Node
// reference tests/ref/chat.mjs), so the page's own script is what talks to
// the server:
//   - two pages: a message typed in one appears in both;
//   - a page closed while messages were sent shows them when opened again
//     (and a reload shows everything once), the Disconnect/Connect toggle
//     catches up the same way;
//   - markup in a message shows as text: no element, no script, no dialog.
// Each test has its own server and SQLite file; the file is skipped (with a
// message) only when /usr/bin/chromium is missing, which set-up installs.
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Cleanups, tempDb, startChat } from './lib/chat.mjs';
import { sleep } from './lib/util.mjs';

const CHROMIUM = '/usr/bin/chromium';
const MISSING = fs.existsSync(CHROMIUM) ? false
  : `${CHROMIUM} is missing (apt-get install chromium); browser tests skipped`;
const T = { timeout: 20_000 };
const WAIT = { timeout: 5000 };

let browser;
let cleanups;

before(async () => {
  if (MISSING) return;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 15_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); });
beforeEach(() => { cleanups = new Cleanups(); });
afterEach(async () => { await cleanups.run(); });

/**
 * Opens the chat in a new page of its own browser context (its own tab
 * state) and waits until its socket is connected. Page errors and dialogs
 * are recorded on the page object (page.errors, page.dialogs); dialogs are
 * dismissed.
 */
async function openChat(url, context = null) {
  if (!context) {
    context = await browser.newContext();
    const ctx = context;
    cleanups.add(() => ctx.close());
  }
  const page = await context.newPage();
  page.setDefaultTimeout(5000);
  page.errors = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(url);
  await waitConnected(page);
  return page;
}

/** Waits until the page's socket (the page script's global `socket`) is connected. */
async function waitConnected(page) {
  await page.waitForFunction(() => typeof socket !== 'undefined' && socket.connected, null, WAIT);
}

/** Types text into #input and submits #form, like a person pressing Send. */
async function say(page, text) {
  await page.fill('#input', text);
  await page.click('#form button[type=submit]');
}

/** The texts of #messages li. */
function shown(page) {
  return page.$$eval('#messages li', (els) => els.map((e) => e.textContent));
}

/** Waits until #messages holds at least n items, then returns their texts. */
async function waitShown(page, n) {
  try {
    await page.waitForFunction((k) => document.querySelectorAll('#messages li').length >= k, n, WAIT);
  } catch (e) {
    throw new Error(`page shows ${JSON.stringify(await shown(page))}, expected ${n} items: ${e.message}`);
  }
  return shown(page);
}

/** Asserts the page raised no uncaught errors and opened no dialogs. */
function assertClean(page, name) {
  assert.deepEqual(page.errors, [], `${name}: uncaught page errors`);
  assert.deepEqual(page.dialogs, [], `${name}: dialogs`);
}

describe('chat in Chromium', { skip: MISSING }, () => {
  it('a message typed in one page appears in both', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    const a = await openChat(server.url);
    const b = await openChat(server.url);

    await say(a, 'hello from page A');
    assert.deepEqual(await waitShown(a, 1), ['hello from page A']);
    assert.deepEqual(await waitShown(b, 1), ['hello from page A']);
    assert.equal(await a.inputValue('#input'), '', 'the input is cleared after sending');

    await say(b, 'and hello from B ✓');
    assert.deepEqual(await waitShown(a, 2), ['hello from page A', 'and hello from B ✓']);
    assert.deepEqual(await waitShown(b, 2), ['hello from page A', 'and hello from B ✓']);
    assertClean(a, 'page A');
    assertClean(b, 'page B');
  });

  it('a page opened again after missing messages shows them, once each', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    const a = await openChat(server.url);
    let b = await openChat(server.url);
    const contextB = b.context();
    await say(a, 'one');
    assert.deepEqual(await waitShown(b, 1), ['one']);

    await b.close(); // B is gone while A talks
    await say(a, 'two');
    await say(a, 'three');
    assert.deepEqual(await waitShown(a, 3), ['one', 'two', 'three']);
    b = await openChat(server.url, contextB);
    assert.deepEqual(await waitShown(b, 3), ['one', 'two', 'three'], 'the reopened page shows what it missed');

    await a.reload();
    await waitConnected(a);
    assert.deepEqual(await waitShown(a, 3), ['one', 'two', 'three'], 'a reload shows everything once');

    // The page's Disconnect/Connect toggle: B misses "four" and catches up.
    await b.click('#toggle-btn');
    await b.waitForFunction(() => !socket.connected, null, WAIT);
    assert.equal(await b.textContent('#toggle-btn'), 'Connect');
    await say(a, 'four');
    await waitShown(a, 4);
    await sleep(200);
    assert.deepEqual(await shown(b), ['one', 'two', 'three'], 'nothing arrives while disconnected');
    await b.click('#toggle-btn');
    await waitConnected(b);
    assert.deepEqual(await waitShown(b, 4), ['one', 'two', 'three', 'four']);
    await sleep(200);
    assert.deepEqual(await shown(b), ['one', 'two', 'three', 'four'], 'nothing doubled');
    assertClean(a, 'page A');
    assertClean(b, 'page B');
  });

  it('markup in a message shows as text, live and after a reload', T, async () => {
    const server = await startChat(cleanups, tempDb(cleanups));
    const a = await openChat(server.url);
    const b = await openChat(server.url);
    const evil = ['<img src=x onerror=alert(1)>', '<script>alert(2)</script>', '<b>bold</b>'];
    for (const text of evil) await say(a, text);
    assert.deepEqual(await waitShown(a, 3), evil);
    assert.deepEqual(await waitShown(b, 3), evil);

    const c = await openChat(server.url); // replayed from the database
    assert.deepEqual(await waitShown(c, 3), evil);
    await sleep(500); // time for an onerror handler to fire, were there an <img>
    for (const [name, page] of [['A', a], ['B', b], ['C', c]]) {
      const elements = await page.$$eval('#messages li', (els) => els.map((e) => e.children.length));
      assert.deepEqual(elements, [0, 0, 0], `page ${name}: message items hold no elements`);
      assert.equal(await page.$$eval('img, b', (els) => els.length), 0, `page ${name}: no <img> or <b>`);
      assertClean(page, `page ${name}`);
    }
  });
});
