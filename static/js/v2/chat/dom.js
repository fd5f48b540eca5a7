// The small DOM helpers the chat's view modules share: text only through textContent
// (never HTML), attributes set one by one (no inline styles or scripts: strict CSP).

/** An element with attributes (`text` sets textContent; true = present, false/null = absent). */
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

/** A labelled form field: <p class="field"><label for=id>…</label> input</p>. */
export function field(id, label, input) {
  return el("p", { class: "field" }, el("label", { for: id, text: label }), input);
}

/** Makes `nodes` the children of `parent` in this order, moving only the ones out of place
 * (moving a node takes the focus from it; most renders move none) and dropping the rest. */
export function placeInOrder(parent, nodes) {
  nodes.forEach((node, index) => {
    if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] ?? null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}
