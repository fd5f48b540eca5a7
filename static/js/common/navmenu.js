// The header's menu button (templates/base.html): on a narrow screen the navigation folds
// behind it so the header stays one line. The button starts hidden (without this script
// every link stays in view); once shown, its aria-expanded says whether the links show,
// and the stylesheet hides them while it is "false". Esc, a click elsewhere or choosing a
// link closes the menu. Listeners sit on the document, since the account pages swap the
// whole <nav> in place (accounts/forms.js) and the shell re-renders its links (v2/app.js).

const BUTTON = ".nav-menu-button";

function setOpen(button, open) {
  button.setAttribute("aria-expanded", open ? "true" : "false");
}

function openButton() {
  return document.querySelector(`${BUTTON}[aria-expanded="true"]`);
}

function onClick(event) {
  const button = event.target.closest(BUTTON);
  if (button) {
    setOpen(button, button.getAttribute("aria-expanded") !== "true");
    return;
  }
  const open = openButton();
  // A chosen link or action, or a click outside the navigation, folds the menu.
  if (open && (event.target.closest("a, button") || !event.target.closest("nav"))) {
    setOpen(open, false);
  }
}

function onKey(event) {
  const open = openButton();
  if (event.key !== "Escape" || !open) return;
  event.stopImmediatePropagation(); // this Esc folds the menu only, not a panel under it
  setOpen(open, false);
  open.focus();
}

/** Shows the menu buttons of the page and folds their menus (once per document). */
export function bindNavMenu() {
  if (document.documentElement.dataset.navMenu) return;
  document.documentElement.dataset.navMenu = "bound";
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  // Buttons arriving later (a swapped <nav>) are shown as they come.
  const reveal = () => {
    for (const button of document.querySelectorAll(`${BUTTON}[hidden]`)) button.hidden = false;
  };
  reveal();
  new MutationObserver(reveal).observe(document.querySelector(".site-header") ?? document.body,
    { childList: true, subtree: true });
}
