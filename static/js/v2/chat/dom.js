// DOM helpers of the version 2 chat views: elements built with text only (textContent,
// never HTML) and attributes (no inline styles or scripts: strict CSP).

/** `tag` with `attributes` ("text" sets textContent; true: present; false/null: absent). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** A labelled form field: <p class="field"><label for=id>label</label>input</p>. */
export function field(id, label, input) {
  return el("p", { class: "field" }, el("label", { for: id, text: label }), input);
}
