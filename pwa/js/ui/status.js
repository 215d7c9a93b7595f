// The role="status" line: whether everything is synced, how many changes wait, or that the device is offline.
import { byId } from './dom.js';

const changes = (n) => (n === 1 ? '1 change waiting' : `${n} changes waiting`);
const notSynced = (n) => (n === 1 ? '1 note not synced' : `${n} notes not synced`);

function syncText({ online, pending, expired, failing, synced }) {
  if (expired) return 'Signed out on the server: sign in again to sync';
  if (!online) return pending ? `Offline, ${changes(pending)}` : 'Offline, notes kept on this device';
  if (failing) return pending ? `Cannot reach the server, ${changes(pending)}` : 'Cannot reach the server';
  if (pending) return changes(pending);
  return synced ? 'Synced' : 'Syncing…';
}

/** The words for a sync state; exported so the wording is defined in one place. Notes the server refused (shown
 * `Not synced`) are counted apart: they wait for the person, not for the network. */
export function statusText(state) {
  const text = syncText(state);
  if (!state.refused) return text;
  return text === 'Synced' ? notSynced(state.refused) : `${text}, ${notSynced(state.refused)}`;
}

export function showStatus(state) {
  const element = byId('status');
  const text = statusText(state);
  if (element.textContent !== text) element.textContent = text;
  const problem = state.expired || state.failing || state.refused;
  element.dataset.state = problem ? 'problem' : !state.online ? 'offline' : state.pending ? 'waiting' : 'synced';
}

/** What to ask before signing out deletes changes the server does not have (null when there are none). */
export function unsyncedWarning(waiting, refused) {
  const parts = [];
  if (waiting) parts.push(`${waiting === 1 ? '1 change has' : `${waiting} changes have`} not reached the server`);
  if (refused) parts.push(`${notSynced(refused)} (the server refused ${refused === 1 ? 'its change' : 'theirs'})`);
  if (!parts.length) return null;
  return `${parts.join(' and ')}. Signing out deletes them from this device. Sign out anyway?`;
}
