// When to sync: at start, on `online`, on becoming visible, about a second after an edit, on each live event, and
// every minute; with exponential backoff while the server cannot be reached. Each run syncs under a Web Lock, so
// several tabs and the service worker never sync at once.
import { outbox, sync } from './core.js';
import { refusedCount } from './store.js';
import { showStatus } from './ui/status.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const AFTER_EDIT = SECOND;
const MAX_BACKOFF = 5 * MINUTE;
const OUTBOX_TAG = 'keeptabs-outbox';

const state = { online: navigator.onLine, pending: 0, refused: 0, expired: false, failing: false, synced: false };
let timer = 0;
let dueAt = 0;
let running = null;
let again = false;
let failures = 0;
let hooks = { onChanged: () => undefined, onExpired: () => undefined };

export async function report() {
  state.pending = await outbox.pending();
  state.refused = refusedCount();
  showStatus(state);
}

const backoff = () => (failures ? Math.min(MAX_BACKOFF, 2 ** (failures - 1) * 2 * SECOND) : 0);

/** Asks for a sync in `delay` ms (never sooner than the backoff allows); the earliest request wins. */
export function soon(delay = 0) {
  const at = Date.now() + Math.max(delay, backoff());
  if (timer && dueAt <= at) return;
  clearTimeout(timer);
  dueAt = at;
  timer = setTimeout(() => {
    timer = 0;
    runNow();
  }, at - Date.now());
}

// Offline edits should still leave if every tab closes before the connection returns.
function askBackgroundSync() {
  navigator.serviceWorker?.ready.then((r) => r.sync?.register(OUTBOX_TAG)).catch(() => undefined);
}

async function once() {
  // No request at all while the browser knows it is offline: the `online` event brings the next sync.
  if (!navigator.onLine) {
    state.online = false;
    return;
  }
  try {
    const changed = await sync.run();
    failures = 0;
    Object.assign(state, { failing: false, online: true, synced: true });
    if (changed.size) await hooks.onChanged([...changed]);
  } catch (error) {
    if (error.status === 401) {
      state.expired = true;
      hooks.onExpired();
      return;
    }
    failures += 1;
    // fetch() rejects with a TypeError when there is no network; anything else is the server's trouble.
    state.online = navigator.onLine && !(error instanceof TypeError);
    state.failing = state.online;
    askBackgroundSync();
    soon(backoff());
  }
}

export function runNow() {
  if (state.expired) return Promise.resolve();
  if (running) {
    again = true;
    return running;
  }
  running = once().finally(async () => {
    running = null;
    await report();
    if (again) {
      again = false;
      soon(0);
    }
  });
  return running;
}

/** Starts the triggers; `onChanged(ids)` hears of notes a sync changed, `onExpired()` of a token gone bad. */
export function start(callbacks) {
  hooks = { ...hooks, ...callbacks };
  state.expired = false;
  window.addEventListener('online', () => {
    failures = 0;
    state.online = true;
    soon(0);
  });
  window.addEventListener('offline', () => {
    state.online = false;
    report();
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') soon(0);
  });
  setInterval(() => soon(0), MINUTE);
  report();
  soon(0);
}

/** After a local edit: count it as waiting now, send it a moment later. */
export function edited() {
  report();
  soon(AFTER_EDIT);
}
