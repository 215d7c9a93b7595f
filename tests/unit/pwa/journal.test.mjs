// journal.js under Node: localStorage and Web Locks stand-ins that behave as the browser's do for one origin.
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';

class Storage {
  #items = new Map();
  getItem(key) { return this.#items.has(key) ? this.#items.get(key) : null; }
  setItem(key, value) { this.#items.set(key, String(value)); }
  removeItem(key) { this.#items.delete(key); }
  keys() { return [...this.#items.keys()]; }
}

// Object.keys(localStorage) lists the stored keys in a browser: a Proxy gives the stand-in the same shape.
const storage = new Storage();
globalThis.localStorage = new Proxy(storage, {
  ownKeys: (target) => target.keys(),
  getOwnPropertyDescriptor: (target, key) => (target.getItem(key) === null ? undefined
    : { value: target.getItem(key), enumerable: true, configurable: true }),
  get: (target, key) => (typeof target[key] === 'function' ? target[key].bind(target) : target[key]),
});

// Exclusive locks by name, granted in request order; a held lock is listed by query().
const held = new Map();
const locks = {
  async request(name, callback) {
    while (held.has(name)) await held.get(name);
    let release;
    held.set(name, new Promise((resolve) => { release = resolve; }));
    try {
      return await callback({ name });
    } finally {
      held.delete(name);
      release();
    }
  },
  async query() { return { held: [...held.keys()].map((name) => ({ name })) }; },
};
Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true });

const journal = await import('../../../pwa/js/journal.js');
const entries = () => Object.keys(localStorage).filter((key) => key.startsWith('keeptabs.journal.'));
const entry = (id) => JSON.parse(localStorage.getItem(`keeptabs.journal.${id}`));

/** An entry as another tab, now gone, left it. */
function leftBy(tab, id, fields, basis, owner = 'me') {
  localStorage.setItem(`keeptabs.journal.${id}`, JSON.stringify({ tab, owner, fields, basis }));
}

beforeEach(() => {
  journal.clear();
  journal.setOwner('me');
});

test('keep journals at once; the basis is what the first input was typed over', () => {
  journal.keep('n1', { body: 'H' }, { body: '' });
  journal.keep('n1', { body: 'Hello' }, { body: 'H' });
  assert.deepEqual(entry('n1').fields, { body: 'Hello' });
  assert.deepEqual(entry('n1').basis, { body: '' });
  assert.equal(entry('n1').owner, 'me');
});

test('settle removes what IndexedDB now holds, and moves the basis of what was typed further', () => {
  journal.keep('n1', { title: 'T', body: 'Hello' }, { title: '', body: '' });
  journal.keep('n1', { body: 'Hello world' }, { body: 'Hello' });
  journal.settle('n1', { body: 'Hello' });
  assert.deepEqual(entry('n1').fields, { title: 'T', body: 'Hello world' });
  assert.deepEqual(entry('n1').basis, { title: '', body: 'Hello' });
  journal.settle('n1', { title: 'T', body: 'Hello world' });
  assert.deepEqual(entries(), []);
});

test('forget and clear leave nothing behind', () => {
  journal.keep('n1', { body: 'x' }, { body: '' });
  journal.keep('n2', { body: 'y' }, { body: '' });
  journal.forget('n1');
  assert.deepEqual(entries(), ['keeptabs.journal.n2']);
  journal.clear();
  assert.deepEqual(entries(), []);
  assert.equal(localStorage.getItem('keeptabs.journal-owner'), null);
});

test('replay edits what a gone tab left, with its basis, then removes it; other accounts are dropped', async () => {
  leftBy('gone', 'n1', { body: 'typed' }, { body: 'stored' });
  leftBy('gone', 'n2', { body: 'not mine' }, { body: '' }, 'someone else');
  const edits = [];
  await journal.replay(async (...args) => edits.push(args), 'me');
  assert.deepEqual(edits, [['n1', { body: 'typed' }, { body: 'stored' }]]);
  assert.deepEqual(entries(), []);
});

test('an entry of a tab still open waits until that tab is gone', async () => {
  let close;
  const open = locks.request('keeptabs-tab-open', () => new Promise((resolve) => { close = resolve; }));
  leftBy('open', 'n1', { body: 'still typing' }, { body: '' });
  const edits = [];
  const replaying = journal.replay(async (...args) => edits.push(args), 'me');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(edits, []);
  assert.deepEqual(entries(), ['keeptabs.journal.n1']);
  close();
  await open;
  await replaying;
  assert.deepEqual(edits, [['n1', { body: 'still typing' }, { body: '' }]]);
  assert.deepEqual(entries(), []);
});

test('this tab never replays its own entries', async () => {
  journal.keep('n1', { body: 'mine' }, { body: '' });
  const edits = [];
  await journal.replay(async (...args) => edits.push(args), 'me');
  assert.deepEqual(edits, []);
  assert.deepEqual(entries(), ['keeptabs.journal.n1']);
});

test('two tabs starting together replay a gone tab once', async () => {
  leftBy('gone', 'n1', { body: 'once' }, { body: '' });
  const edits = [];
  const edit = async (...args) => edits.push(args);
  await Promise.all([journal.replay(edit, 'me'), journal.replay(edit, 'me')]);
  assert.equal(edits.length, 1);
});
