// The app behind main.js: loads the notes, starts syncing, live updates and push, and routes `#note/<id>` to the
// editor. Typing that began before it loaded is picked up by the capture box's first save.
import { currentAccount, signOut } from './account.js';
import { db, outbox } from './core.js';
import { startLive } from './live.js';
import { subscribe as subscribePush, unsubscribe as unsubscribePush } from './push.js';
import { edited, report, soon, start as startSync } from './scheduler.js';
import { load, onEdit, refresh } from './store.js';
import { mountAuth, showAuth } from './ui/auth.js';
import { mountCapture } from './ui/capture.js';
import { byId } from './ui/dom.js';
import { mountEditor } from './ui/editor.js';
import { mountList } from './ui/list.js';
import { toast } from './ui/toast.js';
import { registerWorker } from './ui/update.js';

const screens = { auth: byId('auth'), app: byId('workspace') };
const token = async () => (await currentAccount())?.token;
let stopLive = () => undefined;

function showScreen(name) {
  screens.auth.hidden = name !== 'auth';
  screens.app.hidden = name !== 'app';
  byId('sign-out').hidden = name !== 'app';
  byId('status').hidden = name !== 'app';
}

const capture = mountCapture();
const editor = mountEditor({ onClose: () => route(''), token });
const list = mountList({ onOpen: (id) => route(`note/${id}`) });

/** Shows what the hash names: `note/<id>` opens that note, anything else the list. */
function follow() {
  const [, id] = /^#note\/(.+)$/.exec(location.hash) ?? [];
  const opened = id ? editor.open(id) : false;
  if (!opened) editor.close();
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
  if (!shown && !location.hash.startsWith('#note/')) capture.focus();
  await load();
  follow();
  startSync({
    onChanged: (ids) => refresh(ids),
    onExpired: () => {
      stopLive();
      toast('Your session ended on the server.', { action: 'Sign in', sticky: true, onAction: () => expired(account) });
    },
  });
  stopLive = startLive(account.token, () => soon(0));
  subscribePush(account.token).catch(() => undefined);
}

// Keeps the device's notes and unsent edits: signing in again as the same person sends them.
function expired(account) {
  showScreen('auth');
  showAuth(account.email);
}

async function leave() {
  const waiting = await outbox.pending();
  if (waiting && !confirm(`${waiting} change(s) have not reached the server and will be lost. Sign out anyway?`)) return;
  await Promise.all([editor.flush(), capture.flush()]);
  await signOut(unsubscribePush);
  location.replace('/');
}

export async function start() {
  onEdit(edited);
  mountAuth(async () => enterApp(await currentAccount()));
  byId('sign-out').addEventListener('click', leave);
  window.addEventListener('hashchange', follow);
  document.addEventListener('keydown', (event) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? '');
    if (event.key === '/' && !typing) {
      event.preventDefault();
      byId('search').focus();
    }
  });
  // Other tabs and the service worker write notes too; follow them.
  new BroadcastChannel(db.CHANNEL).addEventListener('message', ({ data }) => {
    if (data?.type === 'changed' && data.source !== db.SOURCE) refresh(data.ids).then(report);
  });
  const account = await currentAccount();
  if (account) await enterApp(account);
  else {
    showScreen('auth');
    showAuth();
  }
  navigator.storage?.persist?.().catch(() => undefined);
  await registerWorker({
    beforeReload: () => Promise.all([editor.flush(), capture.flush()]),
    onMessage: (data) => data.type === 'open' && route(`note/${data.note_id}`),
  });
}
