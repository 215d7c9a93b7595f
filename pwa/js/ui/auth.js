// The Sign in / Create account screen.
import { signIn } from '../account.js';
import { byId } from './dom.js';

const MESSAGES = {
  401: 'Wrong email or password.',
  403: 'This server does not accept new accounts.',
  409: 'An account with this email already exists. Sign in instead.',
  429: 'Too many attempts. Wait a few minutes and try again.',
};

function explain(error) {
  if (error instanceof TypeError) return 'No connection. Signing in needs the internet once; then KeepTabs works offline.';
  if (error.status === 422) return error.message || 'Check the email and the password (at least 8 characters).';
  return MESSAGES[error.status] ?? `Something went wrong (${error.message}). Try again.`;
}

function check(email, password) {
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) return 'Enter your email address.';
  if (password.length < 8) return 'The password needs at least 8 characters.';
  return '';
}

/** Wires the form; `onSignedIn()` runs once the account is stored on the device. */
export function mountAuth(onSignedIn) {
  const form = byId('auth-form');
  const error = byId('auth-error');
  const show = (message) => {
    error.textContent = message;
    error.hidden = !message;
  };
  for (const button of form.querySelectorAll('button')) button.disabled = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const mode = event.submitter?.value === 'register' ? 'register' : 'login';
    const email = byId('email').value.trim();
    const password = byId('password').value;
    const problem = check(email, password);
    show(problem);
    if (problem) return;
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
