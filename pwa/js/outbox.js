// Local edits: each one changes the stored note and queues its mutation in the same transaction, so a note on this
// device always has the outbox entry that will carry it to the server.
// Shared by the page and the classic service worker (see db.js for why it publishes on self.keeptabs).
(() => {
  'use strict';

  const { db, merge } = self.keeptabs;
  const TEXT_FIELDS = ['title', 'body'];

  function blankNote(id, now) {
    return {
      id, title: '', body: '', tags: [], pinned: false, archived: false, deleted: false, reminder: null,
      rev: 0, seq: 0, created_at: now, updated_at: now,
    };
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  /** The one mutation of a note not yet sent, if any: later typing joins it instead of starting another. */
  async function unsentFor(outbox, noteId) {
    const entries = await db.req(outbox.index('note_id').getAll(noteId));
    return entries.find((entry) => !entry.sent);
  }

  /**
   * The fields that really change. `basis` holds the text a title/body edit started from: when the stored text moved
   * since (a sync merged another device's edit in), the edit is merged onto it instead of overwriting it.
   */
  function changedFields(stored, changes, basis) {
    const set = {};
    for (const [key, value] of Object.entries(changes)) {
      let next = value;
      if (TEXT_FIELDS.includes(key) && key in basis && basis[key] !== stored[key]) {
        next = merge.mergeText(basis[key], value, stored[key]);
      }
      if (!same(next, stored[key])) set[key] = next;
    }
    return set;
  }

  /**
   * A note the server refused keeps the refused fields parked (`note.refused`: reason, keys, and the server's values
   * they were edited from). A mutation that edits one of them (or any mutation of a note the server does not have
   * yet) carries all of them, edited from the server's values, so sending it settles the refusal: accepted, the mark
   * goes; refused, it stays. Edits of other fields (a pin, a reminder) leave them parked and sync on their own.
   */
  function carryRefused(mutation, note) {
    const { keys } = note.refused;
    if (note.rev > 0 && !Object.keys(mutation.set).some((key) => keys.includes(key))) return mutation;
    for (const key of keys) {
      mutation.base[key] = note.refused.base[key];
      if (!(key in mutation.set)) mutation.set[key] = note[key];
    }
    return mutation;
  }

  /**
   * `Discard change`: drops this device's refused version of a note and takes the server's. A note the server never
   * had is removed. Resolves with the note as it is now (undefined if removed).
   */
  function discard(noteId) {
    return db.tx(['notes', 'outbox'], 'readwrite', async (t) => {
      const notes = t.objectStore('notes');
      const outbox = t.objectStore('outbox');
      const stored = await db.req(notes.get(noteId));
      if (!stored?.refused) return stored;
      const { refused, ...note } = stored;
      Object.assign(note, refused.base);
      const waiting = await unsentFor(outbox, noteId);
      if (waiting) {
        for (const key of refused.keys) {
          delete waiting.set[key];
          delete waiting.base[key];
        }
        if (Object.keys(waiting.set).length) outbox.put(waiting);
        else outbox.delete(waiting.n);
      }
      // The server never had it and nothing else of it waits to be sent: nothing of it is left to keep.
      const gone = note.rev === 0 && !(await db.req(outbox.index('note_id').count(noteId)));
      if (gone) notes.delete(noteId);
      else notes.put(note);
      return gone ? undefined : note;
    });
  }

  /** Applies an edit to a note (creating it if new) and queues it; resolves with the stored note. */
  function edit(noteId, changes, basis = {}) {
    return db.tx(['notes', 'outbox'], 'readwrite', async (t) => {
      const notes = t.objectStore('notes');
      const outbox = t.objectStore('outbox');
      const now = new Date().toISOString();
      const stored = (await db.req(notes.get(noteId))) ?? blankNote(noteId, now);
      const set = changedFields(stored, changes, basis);
      if (!Object.keys(set).length) return stored;
      const note = { ...stored, ...set, updated_at: now };
      // A mutation already sent is never changed: the server may have applied it. New typing gets a new one.
      const mutation = (await unsentFor(outbox, noteId)) ?? {
        id: crypto.randomUUID(), note_id: noteId, base_rev: stored.rev, set: {}, base: {}, sent: false,
      };
      for (const key of Object.keys(set)) if (!(key in mutation.base)) mutation.base[key] = stored[key];
      Object.assign(mutation.set, set);
      if (note.refused) carryRefused(mutation, note);
      mutation.edited_at = now;
      notes.put(note);
      outbox.put(mutation);
      return note;
    });
  }

  const pending = () => db.count('outbox');

  (self.keeptabs ??= {}).outbox = { edit, pending, unsentFor, blankNote, carryRefused, discard };
})();
