// The sync client: sends the outbox to POST /api/sync and folds the answer into the stored notes, rebasing any edit
// typed meanwhile onto the server's version. One context at a time (a Web Lock), whether a tab or the service worker.
// Shared by the page and the classic service worker (see db.js for why it publishes on self.keeptabs).
(() => {
  'use strict';

  const { db, merge, outbox: local } = self.keeptabs;
  const LOCK = 'keeptabs-sync';
  const MAX_ROUNDS = 50;
  const FIELDS = ['title', 'body', 'tags', 'pinned', 'archived', 'deleted', 'reminder'];
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const pick = (note, keys) => Object.fromEntries(keys.map((key) => [key, note[key]]));

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

  /**
   * Queues `set` as the note's unsent mutation (replacing the fields of one already waiting, which cannot have
   * been sent), against `base_rev`, with `base` the values the fields are edited from.
   */
  async function requeueAs(outbox, note, base_rev, set, base) {
    const waiting = await local.unsentFor(outbox, note.id);
    const mutation = waiting ?? { id: crypto.randomUUID(), note_id: note.id, sent: false };
    outbox.put({ ...mutation, base_rev, set, base, edited_at: note.updated_at ?? new Date().toISOString() });
  }

  /**
   * After a reset: the server's database went back to a version older than one this device had seen. The device's
   * copy is kept, and what differs is sent as an edit of the server's version, so the edits the server lost come
   * back (merged there with whatever other devices did since the restore).
   */
  async function reclaim(t, stored, server, changed) {
    const keys = FIELDS.filter((key) => !same(stored[key], server[key]));
    t.objectStore('notes').put({ ...stored, rev: server.rev, seq: server.seq });
    if (keys.length) await requeueAs(t.objectStore('outbox'), stored, server.rev, pick(stored, keys), pick(server, keys));
    changed.add(stored.id);
  }

  /** Stores a server version of a note, replaying on top of it any edit still waiting to be sent. */
  async function integrate(t, server, force, changed) {
    const notes = t.objectStore('notes');
    const outbox = t.objectStore('outbox');
    const stored = await db.req(notes.get(server.id));
    if (stored && !force && server.rev <= stored.rev) return;
    if (stored && force && server.rev < stored.rev) return reclaim(t, stored, server, changed);
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

  /**
   * Folds one response in, in one transaction: results first (they acknowledge the outbox), then the feed. `seen`,
   * while the feed replays from 0 after a reset, collects the notes the server still has; their versions replace
   * the stored ones even when older.
   */
  function apply(response, sent, seen) {
    const changed = new Set();
    return db.tx(['notes', 'outbox', 'meta'], 'readwrite', async (t) => {
      const force = Boolean(seen);
      for (const [i, result] of response.results.entries()) {
        const mutation = sent[i];
        t.objectStore('outbox').delete(mutation.n);
        if (result.status === 'rejected') await requeue(t, mutation, result);
        if (result.note) await integrate(t, result.note, force, changed);
      }
      for (const note of response.changes) await integrate(t, note, force, changed);
      for (const note of [...response.changes, ...response.results.map((r) => r.note)]) if (note) seen?.add(note.id);
      t.objectStore('meta').put(response.cursor, 'cursor');
      return changed;
    });
  }

  /**
   * After a reset, once the whole feed has replayed: every note this device had synced that the server no longer
   * has is sent again whole (base_rev 0, every field), as if this device had just created it. Notes never synced
   * (rev 0) already have their creation queued. Resolves with the ids queued.
   */
  function resendLost(seen) {
    return db.tx(['notes', 'outbox'], 'readwrite', async (t) => {
      const notes = t.objectStore('notes');
      const lost = (await db.req(notes.getAll())).filter((note) => note.rev > 0 && !seen.has(note.id));
      const blank = local.blankNote('', '');
      for (const note of lost) {
        notes.put({ ...note, rev: 0, seq: 0 });
        await requeueAs(t.objectStore('outbox'), note, 0, pick(note, FIELDS), pick(blank, FIELDS));
      }
      return lost.map((note) => note.id);
    });
  }

  async function catchUp(token) {
    const changed = new Set();
    let seen = null;
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const { entries, cursor } = await takeOutbox();
      const body = { cursor, limit: 500, mutations: entries.map(toWire) };
      const response = await api('/api/sync', { method: 'POST', body, token });
      if (response.reset) seen = new Set();
      for (const id of await apply(response, entries, seen)) changed.add(id);
      if (response.more) continue;
      if (!seen) break;
      const lost = await resendLost(seen);
      seen = null;
      if (!lost.length) break;
      for (const id of lost) changed.add(id);
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
