// The Sign in / Create account screen. A problem with one field (the server's 422 names it) is shown under that
// field, linked to it with aria-describedby; anything else under the buttons.
import { signIn } from '../account.js';
import { byId } from './dom.js';

const FIELDS = ['email', 'password'];

const MESSAGES = {
  401: 'Wrong email or password.',
  403: 'This server does not accept new accounts.',
  409: 'An account with this email already exists. Sign in instead.',
  429: 'Too many attempts. Wait a few minutes and try again.',
  503: 'The server is busy. Try again in a moment.',
};

/** "use at least 3 different characters" -> "Use at least 3 different characters." */
const sentence = (text) => {
  const trimmed = String(text).trim();
  return trimmed && `${trimmed[0].toUpperCase()}${trimmed.slice(1)}${/[.!?]$/.test(trimmed) ? '' : '.'}`;
};

/** What went wrong, as {general, email, password} messages. */
export function explain(error) {
  if (error instanceof TypeError) {
    return { general: 'No connection. Signing in needs the internet once; then KeepTabs works offline.' };
  }
  if (error.status === 422) {
    const fields = {};
    for (const { field, message } of error.problem?.errors ?? []) {
      if (FIELDS.includes(field) && !fields[field]) fields[field] = sentence(message);
    }
    if (Object.keys(fields).length) return fields;
    return { general: error.message || 'Check the email and the password (at least 8 characters).' };
  }
  return { general: MESSAGES[error.status] ?? `Something went wrong (${error.message}). Try again.` };
}

function check(email, password) {
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) return { email: 'Enter your email address.' };
  if (password.length < 8) return { password: 'The password needs at least 8 characters.' };
  return {};
}

function show(problems) {
  for (const [id, message] of [['auth-error', problems.general], ...FIELDS.map((f) => [`${f}-error`, problems[f]])]) {
    const element = byId(id);
    element.textContent = message ?? '';
    element.hidden = !message;
  }
  for (const field of FIELDS) {
    if (problems[field]) byId(field).setAttribute('aria-invalid', 'true');
    else byId(field).removeAttribute('aria-invalid');
  }
}

/** Wires the form; `onSignedIn()` runs once the account is stored on the device. */
export function mountAuth(onSignedIn) {
  const form = byId('auth-form');
  for (const button of form.querySelectorAll('button')) button.disabled = false;
  for (const field of FIELDS) {
    // Typing again in a field answers its problem: the message goes until the next try.
    byId(field).addEventListener('input', () => {
      byId(`${field}-error`).hidden = true;
      byId(field).removeAttribute('aria-invalid');
    });
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const mode = event.submitter?.value === 'register' ? 'register' : 'login';
    const email = byId('email').value.trim();
    const password = byId('password').value;
    const problems = check(email, password);
    show(problems);
    if (Object.keys(problems).length) return;
    form.setAttribute('aria-busy', 'true');
    try {
      await signIn(mode, email, password);
      form.reset();
      await onSignedIn();
    } catch (failure) {
      show(explain(failure));
    } finally {
      form.removeAttribute('aria-busy');
    }
  });
}

/** Shows the screen, with the email filled in when the server ended a session. */
export function showAuth(email = '') {
  if (email) {
    byId('email').value = email;
    byId('password').focus();
  } else if (!byId('auth').contains(document.activeElement)) {
    byId('email').focus();
  }
}
