// The role="status" line: whether everything is synced, how many changes wait, or that the device is offline.
import { byId } from './dom.js';

const changes = (n) => (n === 1 ? '1 change waiting' : `${n} changes waiting`);

/** The words for a sync state; exported so the wording is defined in one place. */
export function statusText({ online, pending, expired, failing, synced }) {
  if (expired) return 'Signed out on the server: sign in again to sync';
  if (!online) return pending ? `Offline, ${changes(pending)}` : 'Offline, notes kept on this device';
  if (failing) return pending ? `Cannot reach the server, ${changes(pending)}` : 'Cannot reach the server';
  if (pending) return changes(pending);
  return synced ? 'Synced' : 'Syncing…';
}

export function showStatus(state) {
  const element = byId('status');
  const text = statusText(state);
  if (element.textContent !== text) element.textContent = text;
  element.dataset.state = state.expired || state.failing ? 'problem' : !state.online ? 'offline' : state.pending ? 'waiting' : 'synced';
}
