// Browser notifications for messages that arrive while the tab is in the
// background, once the user allowed them (the button asks; never on load).

export class Notifier {
  constructor(button) {
    this.button = button;
    this.supported = "Notification" in window;
    if (!this.supported) return;
    this.refresh();
    button.addEventListener("click", async () => {
      try {
        await Notification.requestPermission();
      } finally {
        this.refresh();
      }
    });
  }

  refresh() {
    this.button.hidden = !this.supported || Notification.permission !== "default";
  }

  get enabled() {
    return this.supported && Notification.permission === "granted";
  }

  // Only when the page is hidden or not focused; clicking focuses the conversation.
  notify({ title, body, tag, onClick }) {
    if (!this.enabled || (document.visibilityState === "visible" && document.hasFocus())) return null;
    try {
      const notification = new Notification(title, { body, tag, renotify: true });
      notification.addEventListener("click", () => {
        window.focus();
        onClick?.();
        notification.close();
      });
      return notification;
    } catch {
      return null; // some platforms only allow notifications from a service worker
    }
  }
}
