// The notes in memory for the views, kept in step with IndexedDB: local edits, syncs, and other tabs.
import { db, outbox } from './core.js';

const notes = new Map();
const listeners = new Set();
let afterEdit = () => undefined;

export const allNotes = () => [...notes.values()];
export const getNote = (id) => notes.get(id);
/** How many notes hold a change the server refused (shown `Not synced`). */
export const refusedCount = () => allNotes().filter((note) => note.refused).length;

/** Calls fn(changedIds) whenever notes change, whoever changed them. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(ids) {
  for (const fn of listeners) fn(ids);
}

/** Called after every local edit (the sync scheduler hooks in here). */
export function onEdit(fn) {
  afterEdit = fn;
}

export async function load() {
  notes.clear();
  for (const note of await db.all('notes')) notes.set(note.id, note);
  emit(null);
}

/** Re-reads the given notes from IndexedDB after someone else (a sync, a tab, the worker) wrote them. */
export async function refresh(ids) {
  if (!ids) return load();
  const fresh = await Promise.all(ids.map((id) => db.get('notes', id)));
  ids.forEach((id, i) => (fresh[i] ? notes.set(id, fresh[i]) : notes.delete(id)));
  emit(ids);
}

/** Stores an edit and its outbox entry in one transaction; resolves with the stored (possibly merged) note. */
export async function edit(id, changes, basis) {
  const note = await outbox.edit(id, changes, basis);
  notes.set(id, note);
  emit([id]);
  db.announce([id]);
  afterEdit();
  return note;
}

/** `Discard change`: this device's refused version goes, the server's stays. Resolves with the note, if any is left. */
export async function discard(id) {
  const note = await outbox.discard(id);
  if (note) notes.set(id, note);
  else notes.delete(id);
  emit([id]);
  db.announce([id]);
  afterEdit();
  return note;
}

export function clear() {
  notes.clear();
  emit(null);
}
