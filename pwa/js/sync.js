// The sync client: sends the outbox to POST /api/sync and folds the answer into the stored notes, rebasing any edit
// typed meanwhile onto the server's version. One context at a time (a Web Lock), whether a tab or the service worker.
// Shared by the page and the classic service worker (see db.js for why it publishes on self.keeptabs).
(() => {
  'use strict';

  const { db, merge, outbox: local } = self.keeptabs;
  const LOCK = 'keeptabs-sync';
  const MAX_ROUNDS = 50;

  class HttpError extends Error {
    constructor(status, problem) {
      super(problem?.detail || problem?.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  /** An API call with this device's token; problem+json answers become HttpError. */
  async function api(path, { method = 'GET', body, token } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) throw new HttpError(response.status, data);
    return data;
  }

  /** Takes every queued mutation for sending; from now on new typing goes into new mutations. */
  function takeOutbox() {
    return db.tx(['outbox', 'meta'], 'readwrite', async (t) => {
      const store = t.objectStore('outbox');
      const entries = await db.req(store.getAll());
      for (const entry of entries) if (!entry.sent) store.put({ ...entry, sent: true });
      const cursor = (await db.req(t.objectStore('meta').get('cursor'))) ?? 0;
      return { entries, cursor };
    });
  }

  const toWire = ({ id, note_id, base_rev, edited_at, set }) => ({ id, note_id, base_rev, edited_at, set });

  /** Stores a server version of a note, replaying on top of it any edit still waiting to be sent. */
  async function integrate(t, server, force, changed) {
    const notes = t.objectStore('notes');
    const outbox = t.objectStore('outbox');
    const stored = await db.req(notes.get(server.id));
    if (stored && !force && server.rev <= stored.rev) return;
    const waiting = stored && (await local.unsentFor(outbox, server.id));
    let next = server;
    if (waiting) {
      const keys = Object.keys(waiting.set);
      next = { ...merge.mergeNote(waiting.base, stored, server, keys), rev: server.rev, seq: server.seq };
      for (const key of keys) {
        waiting.base[key] = server[key];
        waiting.set[key] = next[key];
      }
      waiting.base_rev = server.rev;
      outbox.put(waiting);
    }
    notes.put(next);
    changed.add(server.id);
  }

  /** A rejected edit is queued once more against the server's current version; a second rejection drops it. */
  async function requeue(t, mutation, result) {
    if (mutation.requeued) return;
    const outbox = t.objectStore('outbox');
    const stored = await db.req(t.objectStore('notes').get(mutation.note_id));
    if (!stored || (await local.unsentFor(outbox, mutation.note_id))) return;
    const keys = Object.keys(mutation.set);
    const base = result.note ?? stored;
    outbox.put({
      id: crypto.randomUUID(), note_id: mutation.note_id, base_rev: result.note?.rev ?? 0, sent: false,
      requeued: true, edited_at: new Date().toISOString(),
      set: Object.fromEntries(keys.map((k) => [k, stored[k]])),
      base: Object.fromEntries(keys.map((k) => [k, base[k]])),
    });
  }

  /** Folds one response in, in one transaction: results first (they acknowledge the outbox), then the feed. */
  function apply(response, sent) {
    const changed = new Set();
    return db.tx(['notes', 'outbox', 'meta'], 'readwrite', async (t) => {
      const force = Boolean(response.reset);
      for (const [i, result] of response.results.entries()) {
        const mutation = sent[i];
        t.objectStore('outbox').delete(mutation.n);
        if (result.status === 'rejected') await requeue(t, mutation, result);
        if (result.note) await integrate(t, result.note, force, changed);
      }
      for (const note of response.changes) await integrate(t, note, force, changed);
      t.objectStore('meta').put(response.cursor, 'cursor');
      return changed;
    });
  }

  async function catchUp(token) {
    const changed = new Set();
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const { entries, cursor } = await takeOutbox();
      const body = { cursor, limit: 500, mutations: entries.map(toWire) };
      const response = await api('/api/sync', { method: 'POST', body, token });
      for (const id of await apply(response, entries)) changed.add(id);
      if (!response.more) break;
    }
    return changed;
  }

  /**
   * Syncs until the feed is drained. Resolves with the ids of the notes that changed; rejects with HttpError
   * (401: the token no longer works) or a TypeError when the network is down.
   */
  async function run() {
    const account = await db.getMeta('account');
    if (!account) return new Set();
    const changed = await navigator.locks.request(LOCK, () => catchUp(account.token));
    db.announce([...changed]);
    return changed;
  }

  (self.keeptabs ??= {}).sync = { run, api, HttpError };
})();
