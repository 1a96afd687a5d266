// Building the DOM without parsing HTML: everything that comes from the specification or from a
// response is set as text (`textContent`), never as markup.

/**
 * `h('a', { href, class, text, onclick }, ...children)`. `text` sets textContent; `on*`
 * functions become listeners; `true` sets an empty attribute; null/undefined/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/**
 * A description as paragraphs (blank-line separated) with `code` spans — the only markdown
 * the page renders; everything else stays literal text.
 */
export function rich(text) {
  const frag = document.createDocumentFragment();
  for (const para of String(text || '').split(/\n\s*\n/)) {
    if (!para.trim()) continue;
    const p = h('p');
    para.split('`').forEach((part, i) => {
      if (!part) return;
      p.append(i % 2 ? h('code', { text: part }) : document.createTextNode(part));
    });
    frag.append(p);
  }
  return frag;
}

/** Removes every child of `el`. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}
