// The app behind main.js: loads the notes, replays typing an earlier page journaled but never stored (journal.js),
// starts syncing, and routes `#note/<id>` to the editor. Typing that began before it loaded is picked up by the
// capture box's first save.
// Only what the first screen needs is imported up front. The editor, the sign-in form, live updates, push and the
// worker's registration arrive by import() once the browser is idle: each in its own short task, so a slow phone
// never spends one long task evaluating the whole app while the person is trying to type.
import { currentAccount, signOut } from './account.js';
import { db, outbox } from './core.js';
import * as journal from './journal.js';
import { edited, report, soon, start as startSync } from './scheduler.js';
import { edit, load, onEdit, refresh, refusedCount } from './store.js';
import { mountCapture } from './ui/capture.js';
import { byId } from './ui/dom.js';
import { mountList } from './ui/list.js';
import { unsyncedWarning } from './ui/status.js';

const screens = { auth: byId('auth'), app: byId('workspace') };
const token = async () => (await currentAccount())?.token;
const noteInHash = () => /^#note\/(.+)$/.exec(location.hash)?.[1] ?? null;
let stopLive = () => undefined;
let editor = null;
let auth = null;

/** Resolves when the browser has a moment to spare (at the latest after `timeout` ms). */
const idle = (timeout = 1000) =>
  new Promise((resolve) => (self.requestIdleCallback ? requestIdleCallback(resolve, { timeout }) : setTimeout(resolve)));

const toast = async (...args) => (await import('./ui/toast.js')).toast(...args);

function showScreen(name) {
  screens.auth.hidden = name !== 'auth';
  screens.app.hidden = name !== 'app';
  byId('sign-out').hidden = name !== 'app';
  byId('status').hidden = name !== 'app';
}

const capture = mountCapture();
const list = mountList({ onOpen: (id) => route(`note/${id}`) });

function loadEditor() {
  editor ??= import('./ui/editor.js').then(({ mountEditor }) => mountEditor({ onClose: () => route(''), token }));
  return editor;
}

/** Shows what the hash names: `note/<id>` opens that note, anything else the list. */
async function follow() {
  const shown = noteInHash() ? await loadEditor() : await editor;
  // The hash may have moved on while the editor loaded: show what it says now.
  const id = noteInHash();
  const opened = Boolean(id && shown?.open(id));
  if (!opened) shown?.close();
  screens.app.classList.toggle('editing', opened);
  list.setCurrent(opened ? id : null);
  if (opened) byId('editor-heading').focus({ preventScroll: true });
  else if (location.hash === '#new') capture.focus();
}

function route(hash) {
  if (location.hash.slice(1) === hash) return follow();
  if (hash) location.hash = hash;
  else history.replaceState(null, '', location.pathname + location.search);
  return follow();
}

async function enterApp(account) {
  const shown = !screens.app.hidden;
  showScreen('app');
  if (!shown && !noteInHash()) capture.focus();
  journal.setOwner(account.user_id);
  await load();
  // Not awaited: entries of a tab that is still open wait for it to close.
  journal.replay(edit, account.user_id).catch(() => undefined);
  await follow();
  startSync({
    onChanged: (ids) => refresh(ids),
    onExpired: () => {
      stopLive();
      toast('Your session ended on the server.', { action: 'Sign in', sticky: true, onAction: () => expired(account) });
    },
  });
  await idle();
  const [{ startLive }, push] = await Promise.all([import('./live.js'), import('./push.js')]);
  stopLive = startLive(account.token, () => soon(0));
  push.subscribe(account.token).catch(() => undefined);
}

/** The sign-in form, wired; shown with `email` filled in when the server ended a session. */
async function signInScreen(email = '') {
  auth ??= import('./ui/auth.js').then((module) => {
    module.mountAuth(async () => enterApp(await currentAccount()));
    return module;
  });
  const { showAuth } = await auth;
  showScreen('auth');
  showAuth(email);
}

// Keeps the device's notes and unsent edits: signing in again as the same person sends them.
function expired(account) {
  signInScreen(account.email);
}

async function leave() {
  await Promise.all([editor?.then((e) => e.flush()), capture.flush()]);
  const warning = unsyncedWarning(await outbox.pending(), refusedCount());
  if (warning && !confirm(warning)) return;
  const { unsubscribe } = await import('./push.js');
  await signOut(unsubscribe);
  journal.clear();
  location.replace('/');
}

function followKeys() {
  document.addEventListener('keydown', (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? '');
    if (event.key === '/' && !typing) {
      event.preventDefault();
      byId('search').focus();
    }
  });
}

export async function start() {
  onEdit(edited);
  byId('sign-out').addEventListener('click', leave);
  window.addEventListener('hashchange', follow);
  followKeys();
  // Other tabs and the service worker write notes too; follow them.
  new BroadcastChannel(db.CHANNEL).addEventListener('message', ({ data }) => {
    if (data?.type === 'changed' && data.source !== db.SOURCE) refresh(data.ids).then(report);
  });
  const account = await currentAccount();
  if (account) await enterApp(account);
  else await signInScreen();
  await idle();
  if (account) loadEditor();
  navigator.storage?.persist?.().catch(() => undefined);
  const { registerWorker } = await import('./ui/update.js');
  await registerWorker({
    beforeReload: () => Promise.all([editor?.then((e) => e.flush()), capture.flush()]),
    onMessage: (data) => data.type === 'open' && route(`note/${data.note_id}`),
  });
}
