// Copy and print buttons for a secret shown once (recovery code, backup codes).
// The buttons are hidden without JavaScript; the page works without them.
// Runs again when forms.js shows a new page in place ("securechat:page").
import { PAGES } from "../v2/strings.js";
function enhance() {
  for (const button of document.querySelectorAll("button[data-copy]:not([data-ready])")) {
    const target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) continue;
    button.dataset.ready = "";
    button.hidden = false;
    button.addEventListener("click", async () => {
      const text = [...target.querySelectorAll("code")].map((c) => c.textContent).join("\n");
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = PAGES.copied;
      } catch {
        button.textContent = PAGES.copyFailed; // shown on the button: nothing to log
      }
    });
  }
  for (const button of document.querySelectorAll("button[data-print]:not([data-ready])")) {
    button.dataset.ready = "";
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
}

enhance();
window.addEventListener("securechat:page", enhance);
