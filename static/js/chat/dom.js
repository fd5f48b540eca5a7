// Small DOM helpers. Text always goes in through textContent, never innerHTML.

export function $(id) {
  return document.getElementById(id);
}

// h("li", {class: "x", dataset: {seq: 3}, on: {click: fn}, text: "hi"}, child, ...)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (key === "style") throw new Error("inline styles are not allowed (CSP)");
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function toast(text, ms = 4000) {
  const el = h("div", { class: "toast", role: "status", text });
  document.body.append(el);
  setTimeout(() => el.remove(), ms);
}
