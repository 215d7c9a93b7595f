// The sync client: sends the outbox to POST /api/sync and folds the answer into the stored notes, rebasing any edit
// typed meanwhile onto the server's version. One context at a time (a Web Lock), whether a tab or the service worker.
// Shared by the page and the classic service worker (see db.js for why it publishes on self.keeptabs).
(() => {
  'use strict';

  const { db, merge, outbox: local } = self.keeptabs;
  const LOCK = 'keeptabs-sync';
  const MAX_ROUNDS = 50;
  // The server takes at most 500 mutations per request; a longer outbox leaves in several.
  const MAX_BATCH = 500;
  // A whole request answered with one of these was refused for what it holds (one mutation the server cannot take):
  // sending it again would fail forever. Other answers (401, 404, 429, 5xx, no network) are retried as they come.
  const REFUSED = new Set([400, 413, 415, 422]);
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
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      if (response.ok) throw error; // an error page from a proxy is still an HTTP error, not a crash
    }
    if (!response.ok) throw new HttpError(response.status, data);
    return data;
  }

  /** Takes the oldest queued mutations for sending (at most one request's worth); new typing goes into new ones. */
  function takeOutbox() {
    return db.tx(['outbox'], 'readwrite', async (t) => {
      const store = t.objectStore('outbox');
      const entries = await db.req(store.getAll(null, MAX_BATCH));
      for (const entry of entries) if (!entry.sent) store.put({ ...entry, sent: true });
      return { entries, full: entries.length === MAX_BATCH };
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
    notes.put(stored?.refused ? keepRefused(stored, next, server, waiting) : next);
    changed.add(server.id);
  }

  /**
   * A refused note keeps this device's version of the refused fields, rebased onto the server's new version like an
   * unsent edit (an unsent mutation, which carries them, has done that already); their base moves up with it.
   */
  function keepRefused(stored, next, server, waiting) {
    const { keys, base } = stored.refused;
    const carried = waiting && keys.every((key) => key in waiting.set);
    const rebased = carried ? next : merge.mergeNote(base, stored, server, keys);
    return { ...next, ...pick(rebased, keys), refused: { ...stored.refused, base: pick(server, keys) } };
  }

  /**
   * A mutation the server refused for what it holds (a text over a limit): sent again, it would be refused again, so
   * it has left the outbox. The note keeps this device's text and is marked refused with the reason (the app shows
   * `Not synced`); the refused fields stay parked on it with the server's values they were edited from, until an edit
   * sends them again (cleared if accepted) or `Discard change` drops them. An unsent mutation of the note takes them
   * over at once.
   */
  async function refuse(t, mutation, problem, changed) {
    const notes = t.objectStore('notes');
    const outbox = t.objectStore('outbox');
    const stored = await db.req(notes.get(mutation.note_id));
    if (!stored) return;
    const prior = stored.refused ?? { keys: [], base: {} };
    const keys = [...new Set([...prior.keys, ...Object.keys(mutation.set)])];
    const reason = problem?.detail || problem?.title || 'The server refused this change.';
    const note = { ...stored, refused: { reason, keys, base: { ...prior.base, ...mutation.base } } };
    notes.put(note);
    const waiting = await local.unsentFor(outbox, note.id);
    if (waiting) outbox.put(local.carryRefused(waiting, note));
    changed.add(note.id);
  }

  /** An accepted mutation sent the fields it holds: those are no longer refused. */
  async function accept(t, mutation, changed) {
    const notes = t.objectStore('notes');
    const stored = await db.req(notes.get(mutation.note_id));
    if (!stored?.refused) return;
    const { refused, ...note } = stored;
    const keys = refused.keys.filter((key) => !(key in mutation.set));
    notes.put(keys.length ? { ...note, refused: { ...refused, keys, base: pick(refused.base, keys) } } : note);
    changed.add(note.id);
  }

  /**
   * An edit rejected because its base is ahead of the note (the server's database went back) is queued once more
   * against the server's current version; rejected again, it is refused like any other.
   */
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
        if (result.status !== 'rejected') await accept(t, mutation, changed);
        else if (result.error?.status === 409 && !mutation.requeued) await requeue(t, mutation, result);
        else await refuse(t, mutation, result.error, changed);
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

  const post = (token, cursor, mutations, limit = 500) =>
    api('/api/sync', { method: 'POST', body: { cursor, limit, mutations: mutations.map(toWire) }, token });

  /**
   * Sends `entries` and folds the answer in; resolves with whether another round is needed. A request refused whole
   * for what it holds (which a server of another version might do) is split in halves until the one mutation it
   * cannot take is found: that one is refused, the others go through, and nothing is retried forever.
   */
  async function exchange(entries, token, state) {
    const cursor = (await db.getMeta('cursor')) ?? 0;
    let response;
    try {
      response = await post(token, cursor, entries);
    } catch (error) {
      if (!entries.length || !REFUSED.has(error.status)) throw error;
      if (entries.length > 1) {
        const half = Math.ceil(entries.length / 2);
        await exchange(entries.slice(0, half), token, state);
        await exchange(entries.slice(half), token, state);
        return true;
      }
      await post(token, cursor, [], 1); // the request without it must go through, or the trouble is not this edit
      await db.tx(['notes', 'outbox'], 'readwrite', (t) => {
        t.objectStore('outbox').delete(entries[0].n);
        return refuse(t, entries[0], error.problem, state.changed);
      });
      return true;
    }
    if (response.reset) state.seen = new Set();
    for (const id of await apply(response, entries, state.seen)) state.changed.add(id);
    return response.more;
  }

  async function catchUp(token) {
    const state = { changed: new Set(), seen: null };
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const { entries, full } = await takeOutbox();
      if ((await exchange(entries, token, state)) || full) continue;
      if (!state.seen) break;
      const lost = await resendLost(state.seen);
      state.seen = null;
      if (!lost.length) break;
      for (const id of lost) state.changed.add(id);
    }
    return state.changed;
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
