// A synchronous journal of text typed but not yet in IndexedDB. An IndexedDB write finishes a moment after it is
// asked for, and the page may be gone by then (a reload right after Done, a closed tab, a phone locked mid-word);
// a localStorage write is synchronous. So every input is journaled at once, and whatever had not reached IndexedDB
// is replayed at the next start through the normal edit path (so it gets its outbox entry), then removed.
//
// One entry per note: the fields as typed, and for each the text it was typed over (`basis`, something IndexedDB
// holds or held), so a replay onto a note that moved on meanwhile (a sync merged another device's edit) merges
// instead of overwriting. Entries are tagged with their tab, which holds a Web Lock while it lives: another tab
// never replays what a live tab is still writing. And with the account, so one person's typing never lands in the
// notes of the next person to sign in.
const PREFIX = 'keeptabs.journal.';
const OWNER = 'keeptabs.journal-owner';
const TAB = crypto.randomUUID();
const tabLock = (tab) => `keeptabs-tab-${tab}`;

globalThis.navigator?.locks?.request(tabLock(TAB), () => new Promise(() => undefined)).catch(() => undefined);

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const keys = () => Object.keys(localStorage).filter((key) => key.startsWith(PREFIX));
// This tab's entries, so typing in a long note does not parse its entry back at every key.
const mine = new Map();

function read(key) {
  if (mine.has(key)) return mine.get(key);
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}

function write(key, entry) {
  const empty = !Object.keys(entry.fields).length;
  if (empty) mine.delete(key);
  else mine.set(key, entry);
  try {
    if (empty) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(entry));
  } catch {
    // Storage full or refused: the IndexedDB write asked for a moment later still carries the text.
  }
}

/** Journals the `fields` of note `id` as they are now; `basis` says what each was typed over (kept from the first). */
export function keep(id, fields, basis) {
  const key = PREFIX + id;
  const entry = read(key) ?? { fields: {}, basis: {} };
  for (const name of Object.keys(fields)) if (!(name in entry.fields)) entry.basis[name] = basis[name];
  Object.assign(entry.fields, fields);
  write(key, { ...entry, tab: TAB, owner: localStorage.getItem(OWNER) });
}

/** `written` has reached IndexedDB: the fields not typed further since leave the journal. */
export function settle(id, written) {
  const key = PREFIX + id;
  const entry = read(key);
  if (!entry) return;
  for (const [name, value] of Object.entries(written)) {
    if (!(name in entry.fields)) continue;
    if (same(entry.fields[name], value)) {
      delete entry.fields[name];
      delete entry.basis[name];
    } else {
      entry.basis[name] = value; // typing went on over what is now stored
    }
  }
  write(key, entry);
}

/** Drops the entry of note `id` (typed, then erased before anything was written). */
export function forget(id) {
  mine.delete(PREFIX + id);
  localStorage.removeItem(PREFIX + id);
}

/** Entries are written for this account from now on. */
export const setOwner = (userId) => localStorage.setItem(OWNER, userId);

/** Signing out: nothing typed on this device stays behind. */
export function clear() {
  mine.clear();
  for (const key of keys()) localStorage.removeItem(key);
  localStorage.removeItem(OWNER);
}

/**
 * Replays, through `edit(id, fields, basis)`, what other tabs typed but never stored, then removes it. Each tab's
 * entries wait for that tab's lock: at once for a tab that is gone (a reload, a closed page), only after it closes
 * for a tab still open (it stores its own typing). Holding that lock also keeps two new tabs from both replaying the
 * same entries. Resolves when every such tab is gone and replayed (never, while another tab stays open: do not wait).
 */
export function replay(edit, owner) {
  const tabs = new Set(keys().map((key) => read(key)?.tab).filter((tab) => tab && tab !== TAB));
  if (!tabs.size || !globalThis.navigator?.locks) return Promise.resolve();
  return Promise.all([...tabs].map((tab) => navigator.locks.request(tabLock(tab), () => replayTab(tab, edit, owner))));
}

async function replayTab(tab, edit, owner) {
  for (const key of keys()) {
    const entry = read(key);
    if (entry?.tab !== tab) continue;
    // Typing by whoever was signed in before is not this account's to keep.
    if (!entry.owner || entry.owner === owner) await edit(key.slice(PREFIX.length), entry.fields, entry.basis);
    if (same(read(key), entry)) localStorage.removeItem(key);
  }
}
