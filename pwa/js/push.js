// Web Push for reminders: permission is asked from a user gesture (setting a reminder), the subscription uses the
// server's key and is stored on the server, so the server can wake this device when a reminder is due.
import { sync } from './core.js';

// pushManager.subscribe() can hang when the push service is unreachable; never let it hold anything up.
const SUBSCRIBE_TIMEOUT = 10000;

const supported = () => 'Notification' in self && 'PushManager' in self && 'serviceWorker' in navigator;

function withTimeout(promise, ms) {
  let timer = 0;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('Timed out')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function base64url(buffer) {
  return btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Subscribes (or keeps a subscription made with the same key) and tells the server; null when push is off. */
export async function subscribe(token) {
  if (!supported() || Notification.permission !== 'granted') return null;
  let key;
  try {
    ({ public_key: key } = await sync.api('/api/push/key'));
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
  const registration = await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  const subscribedKey = subscription?.options.applicationServerKey;
  if (subscription && (!subscribedKey || base64url(subscribedKey) !== key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await withTimeout(
    registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }), SUBSCRIBE_TIMEOUT);
  await sync.api('/api/push/subscriptions', { method: 'POST', body: subscription.toJSON(), token });
  return subscription;
}

/** From a click: asks for permission when not yet decided, then subscribes. Resolves with the permission. */
export async function enable(token) {
  if (!supported()) return 'unsupported';
  const permission = Notification.permission === 'default' ? await Notification.requestPermission() : Notification.permission;
  if (permission === 'granted') subscribe(token).catch(() => undefined);
  return permission;
}

/** Signing out: this device stops receiving the account's reminders. */
export async function unsubscribe(token) {
  if (!supported()) return;
  const registration = await navigator.serviceWorker.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  if (!subscription) return;
  const body = { endpoint: subscription.endpoint };
  await sync.api('/api/push/subscriptions', { method: 'DELETE', body, token }).catch(() => undefined);
  await subscription.unsubscribe();
}
