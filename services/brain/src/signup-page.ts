/** The minimal sign-up page: a number, a consent box, one button. No script, no tracking. */
export function signupPage(notice?: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Start learning on WhatsApp</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:1rem 0}input[type=tel]{width:100%;font-size:1.2rem;padding:.4rem}button{font-size:1.1rem;padding:.5rem 1.2rem}.notice{background:#eef;padding:.8rem}</style>
</head><body>
<h1>Start learning on WhatsApp</h1>
${notice ? `<p class="notice" role="status">${esc(notice)}</p>` : ""}
<form method="post" action="/signup">
<label>Your WhatsApp number<input type="tel" name="phone" placeholder="+44 7700 900123" required autocomplete="tel"></label>
<label><input type="checkbox" name="consent" value="yes" required> I agree to receive messages from the tutor on WhatsApp. Reply STOP at any time to stop.</label>
<button type="submit">Start</button>
</form>
</body></html>
`;
}
