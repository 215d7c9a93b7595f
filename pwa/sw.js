// The service worker. The server prepends `const BUILD = {version, assets}` (every file of this version, and "/").
// Classic, not a module, so it runs in every browser; the sync core is shared with the page through importScripts.
/* global BUILD */
'use strict';

const STATIC = BUILD.assets.find((path) => path.endsWith('/js/main.js')).replace(/\/js\/main\.js$/, '');
importScripts(`${STATIC}/js/vendor/diff3.js`, `${STATIC}/js/db.js`, `${STATIC}/js/merge.js`,
  `${STATIC}/js/outbox.js`, `${STATIC}/js/sync.js`);

const { db, outbox, sync } = self.keeptabs;
const CACHE_PREFIX = 'keeptabs-';
const CACHE = `${CACHE_PREFIX}${BUILD.version}`;
const PRECACHED = new Set(BUILD.assets);
const OUTBOX_TAG = 'keeptabs-outbox';
const HOUR = 3600 * 1000;

// Install: the whole shell of this version, fetched past the HTTP cache so a stale copy cannot sneak in.
self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(BUILD.assets.map((url) => new Request(url, { cache: 'reload' })))));
});

// A waiting version takes over only when the page asks (its "Update" button), never in the middle of typing.
self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
});

// Activate: drop the caches of older versions, and control the pages already open (the very first install).
self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

// Opened once per worker start: every request of a page load goes through here.
let opened = null;
const cache = () => (opened ??= caches.open(CACHE));

async function fromCache(request) {
  return (await (await cache()).match(request)) ?? fetch(request);
}

// Headers that described the cached body's transfer, not the page: the rewritten shell is a new body.
const TRANSFER_HEADERS = ['content-encoding', 'content-length', 'etag', 'last-modified'];

/**
 * The shell as the server renders it is for someone signed out. When this device holds an account, the elements
 * marked data-for="signed-in" are shown and those marked "signed-out" hidden, so the notes and the focused `New note`
 * box (autofocus) are on screen in the first frame, before any script of the page has run.
 */
function forSignedIn(html) {
  return html.replace(/<[a-z]+\s[^>]*\bdata-for="(signed-in|signed-out)"[^>]*>/g, (tag, audience) => {
    const shown = tag.replace(/\shidden(?=[\s>])/, '');
    return audience === 'signed-in' ? shown : shown.replace(/>$/, ' hidden>');
  });
}

// The shell comes from the cache first, so the app opens at once, with or without a signal. Its static files are
// versioned, so the cached shell always matches the cached files; a new version arrives through `install`.
async function shell(request) {
  const [cached, account] = await Promise.all([
    (await cache()).match('/'),
    db.getMeta('account').catch(() => null),
  ]);
  if (!cached) return fetch(request);
  if (!account) return cached;
  const headers = new Headers(cached.headers);
  for (const name of TRANSFER_HEADERS) headers.delete(name);
  return new Response(forSignedIn(await cached.text()), { status: cached.status, headers });
}

// Fetch: /api is never touched (always the network, never cached); only this version's files and "/" are served.
self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.startsWith('/api/')) return;
  if (request.mode === 'navigate' && url.pathname === '/') event.respondWith(shell(request));
  else if (PRECACHED.has(url.pathname)) event.respondWith(fromCache(request));
});

// Push: a reminder becomes a notification with the note's title and body, tagged with the note id so a repeat
// replaces it instead of piling up. Fields meant for WebKit's declarative push are ignored here.
self.addEventListener('push', (event) => {
  let message = {};
  try {
    message = event.data?.json() ?? {};
  } catch {
    message = { body: event.data?.text() ?? '' };
  }
  event.waitUntil(notify(message));
});

function notify(message) {
  const icon = `${STATIC}/icons/icon-192.png`;
  if (message.type !== 'reminder') {
    return self.registration.showNotification(message.title || 'KeepTabs', { body: message.body || '', icon });
  }
  return self.registration.showNotification(message.title || 'Reminder', {
    body: message.body || '',
    tag: message.note_id,
    renotify: true,
    requireInteraction: true,
    icon,
    badge: icon,
    timestamp: Date.parse(message.at) || Date.now(),
    data: { note_id: message.note_id, at: message.at },
    actions: [{ action: 'done', title: 'Done' }, { action: 'snooze', title: 'Snooze 1 hour' }],
  });
}

// A notification tap opens the note in a running tab when there is one, otherwise in a new window.
async function openNote(noteId) {
  const url = new URL(noteId ? `/#note/${noteId}` : '/', self.location.origin).href;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const client = windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (!client) return self.clients.openWindow(url);
  if (noteId) client.postMessage({ type: 'open', note_id: noteId });
  return client.focus();
}

/** The reminder a notification action leaves behind, or null when there is nothing to change. */
function actedReminder(action, reminder, at) {
  const current = reminder ?? { at, repeat: 'none', tz: 'UTC', done: false };
  if (action === 'snooze') return { ...current, at: new Date(Date.now() + HOUR).toISOString(), done: false };
  // A repeating reminder has already moved on to its next time on the server: Done acknowledges this one only.
  return current.repeat === 'none' ? { ...current, done: true } : null;
}

// Done / Snooze work with no page open: the edit goes through the outbox like any other, then syncs (or waits for
// Background Sync when offline).
async function act(action, data) {
  let note = await db.get('notes', data.note_id);
  if (!note) {
    await sync.run().catch(() => undefined);
    note = await db.get('notes', data.note_id);
  }
  const reminder = actedReminder(action, note?.reminder, data.at);
  if (!reminder) return;
  await outbox.edit(data.note_id, { reminder });
  db.announce([data.note_id]);
  try {
    await sync.run();
  } catch {
    await self.registration.sync?.register(OUTBOX_TAG).catch(() => undefined);
  }
}

/**
 * Keeps the worker alive until `work` settles. Only the browser's own events can be extended: one constructed by a
 * script (how tests click a notification, as headless browsers cannot) would throw, and the work runs all the same.
 */
function extend(event, work) {
  if (event.isTrusted) event.waitUntil(work);
  return work;
}

self.addEventListener('notificationclick', (event) => {
  const { notification, action } = event;
  notification.close();
  const data = notification.data ?? {};
  if (!data.note_id) extend(event, openNote(''));
  else if (action === 'done' || action === 'snooze') extend(event, act(action, data));
  else extend(event, openNote(data.note_id));
});

// Background Sync: edits made offline leave when the connection returns, even if every tab was closed.
self.addEventListener('sync', (event) => {
  if (event.tag === OUTBOX_TAG) event.waitUntil(sync.run());
});

// The push service replaced our subscription: subscribe again with the server's key and tell the server, so
// reminders keep arriving on this device.
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const account = await db.getMeta('account');
    if (!account) return;
    const { public_key: key } = await sync.api('/api/push/key');
    const subscription = event.newSubscription
      ?? (await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
    await sync.api('/api/push/subscriptions', { method: 'POST', body: subscription.toJSON(), token: account.token });
    const old = event.oldSubscription?.endpoint;
    if (old && old !== subscription.endpoint) {
      await sync.api('/api/push/subscriptions', { method: 'DELETE', body: { endpoint: old }, token: account.token })
        .catch(() => undefined);
    }
  })());
});
