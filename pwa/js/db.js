// IndexedDB: the device's copy of the notes, the outbox of unsent edits, and small settings (account, cursor).
// Shared by the page and the classic service worker: importScripts() cannot load ES modules, so this file
// publishes on self.keeptabs instead of exporting.
(() => {
  'use strict';

  const NAME = 'keeptabs';
  const VERSION = 1;
  const STORES = ['notes', 'outbox', 'meta'];
  const CHANNEL = 'keeptabs';
  // Marks this context's announcements, so it does not re-read what it wrote itself.
  const SOURCE = crypto.randomUUID();
  let opening = null;

  function upgrade(idb) {
    idb.createObjectStore('notes', { keyPath: 'id' });
    // Auto-increment keys keep the outbox in the order the edits were made: the server applies them in that order.
    const outbox = idb.createObjectStore('outbox', { keyPath: 'n', autoIncrement: true });
    outbox.createIndex('note_id', 'note_id');
    idb.createObjectStore('meta');
  }

  function open() {
    opening ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => upgrade(request.result);
      request.onsuccess = () => {
        const idb = request.result;
        // Another context wants a newer schema (a new app version): step aside instead of blocking it.
        idb.onversionchange = () => {
          idb.close();
          opening = null;
        };
        resolve(idb);
      };
      request.onerror = () => {
        opening = null;
        reject(request.error);
      };
    });
    return opening;
  }

  /** Wraps one IDBRequest; awaiting only these inside a transaction keeps it alive. */
  function req(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  /** Runs fn(transaction) and resolves with its result once the transaction has committed. */
  async function tx(names, mode, fn) {
    const idb = await open();
    const t = idb.transaction(names, mode);
    const committed = new Promise((resolve, reject) => {
      t.oncomplete = () => resolve();
      t.onabort = () => reject(t.error ?? new DOMException('Transaction aborted', 'AbortError'));
    });
    let result;
    try {
      result = await fn(t);
    } catch (error) {
      try {
        t.abort();
      } catch {
        // Already finished: nothing to undo.
      }
      await committed.catch(() => undefined);
      throw error;
    }
    await committed;
    return result;
  }

  const get = (store, key) => tx([store], 'readonly', (t) => req(t.objectStore(store).get(key)));
  const all = (store) => tx([store], 'readonly', (t) => req(t.objectStore(store).getAll()));
  const count = (store) => tx([store], 'readonly', (t) => req(t.objectStore(store).count()));
  const getMeta = (key) => get('meta', key);
  const setMeta = (key, value) => tx(['meta'], 'readwrite', (t) => req(t.objectStore('meta').put(value, key)));

  /** Forgets everything this device holds for the signed-in account (signing out). */
  const wipe = () => tx(STORES, 'readwrite', (t) => Promise.all(STORES.map((s) => req(t.objectStore(s).clear()))));

  /** Tells the other tabs and the service worker which notes changed, so their views follow. */
  function announce(ids) {
    if (!ids.length || typeof BroadcastChannel === 'undefined') return;
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage({ type: 'changed', ids, source: SOURCE });
    channel.close();
  }

  (self.keeptabs ??= {}).db = { open, req, tx, get, all, count, getMeta, setMeta, wipe, announce, CHANNEL, SOURCE };
})();
