// The script of the emailed-link pages (sign in, confirm email, new
// password), served as a file: the pages' Content-Security-Policy allows no
// inline script. The token comes from the form's data attribute; the page
// never reads a redirect from its URL. A magic link with a redirect bound to
// it answers that redirect (the application's URL with ?code=…) and no
// tokens; without one, the sign-in stays on this origin (refresh cookie).
const f = document.getElementById('f'), m = document.getElementById('m');
if (f) f.addEventListener('submit', async (e) => {
  e.preventDefault();
  const body = {token: f.dataset.token};
  if (f.elements.p) body.new_password = f.elements.p.value;
  if (f.dataset.cookie) body.use_cookie = true;
  let r, j;
  try {
    r = await fetch(f.dataset.action, {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    j = await r.json();
  } catch (err) { m.textContent = 'The server cannot be reached. Try again.'; return; }
  if (!r.ok) { m.textContent = j.error_description || 'This link is invalid or has expired.'; return; }
  f.hidden = true;
  history.replaceState(null, '', location.pathname);  // the token is used: out of the history
  if (j.redirect_to) {
    if (!/^https?:\/\//.test(j.redirect_to)) { m.textContent = 'This link has an invalid redirect.'; return; }
    m.textContent = 'Signed in. Taking you back…';
    location.assign(j.redirect_to);
    return;
  }
  m.textContent = j.user ? 'Signed in as ' + j.user.email + '. You can close this page.'
                         : 'Done. You can close this page.';
});
document.documentElement.dataset.script = 'ready';  // tests: the script ran under the policy
