// Signing in and out. The token lives in IndexedDB (not a cookie) because the service worker must sync on its own,
// after a notification action, with no page open; localStorage keeps only a hint (main.js) that someone is signed
// in, read synchronously at start so the capture box can take focus before IndexedDB has even opened.
import { db, sync } from './core.js';
import { rememberSignedIn } from './main.js';

const LOGOUT_TIMEOUT = 3000;

export const currentAccount = () => db.getMeta('account');

function deviceName() {
  const ua = navigator.userAgent;
  const system = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Mac', 'Mac'], ['Windows', 'Windows'],
    ['CrOS', 'ChromeOS'], ['Linux', 'Linux']].find(([needle]) => ua.includes(needle))?.[1] ?? 'a device';
  const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']]
    .find(([needle]) => ua.includes(needle))?.[1] ?? 'Browser';
  return `${browser} on ${system}`;
}

/** Signs in (mode "login") or creates an account (mode "register"); rejects with the server's problem. */
export async function signIn(mode, email, password) {
  const path = mode === 'register' ? '/api/auth/register' : '/api/auth/login';
  const data = await sync.api(path, { method: 'POST', body: { email, password, device_name: deviceName() } });
  // Another person's notes must never mix with these; the same person signing in again keeps unsent edits.
  const owner = await db.getMeta('owner');
  if (owner && owner !== data.user_id) await db.wipe();
  await db.setMeta('owner', data.user_id);
  await db.setMeta('account', { ...data, email });
  rememberSignedIn(true);
  return data;
}

/** Ends the session on the server (best effort) and removes this account's data from the device. */
export async function signOut(beforeWipe = async () => undefined) {
  const account = await currentAccount();
  if (account) {
    await beforeWipe(account.token).catch(() => undefined);
    const logout = sync.api('/api/auth/logout', { method: 'POST', token: account.token });
    const timeout = new Promise((resolve) => setTimeout(resolve, LOGOUT_TIMEOUT));
    await Promise.race([logout.catch(() => undefined), timeout]);
  }
  await db.wipe();
  rememberSignedIn(false);
}
