// Markdown for assistant text, rendered straight to DOM nodes. There is no HTML step to
// sanitise: raw HTML in the source (`<script>`, `<img onerror>`) is never parsed, it stays
// text. Links only keep http(s), mailto and same-origin targets and open in a new tab
// without referrer or opener.
//
// Supported: paragraphs, headings, fenced code, bullet and numbered lists, block quotes,
// `code`, **bold**, *italic*, [links](https://…). Anything else is shown as written.

import { h } from './dom.js';

export function markdown(src) {
  const root = document.createDocumentFragment();
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)\s*$/);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      root.append(h('pre', { class: 'code' }, h('code', fence[2] ? { 'data-lang': fence[2] } : {}, body.join('\n'))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      // Headings inside a message stay below the page's own h1/h2.
      const level = Math.min(6, heading[1].length + 2);
      root.append(h(`h${level}`, {}, inline(heading[2])));
      i++;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ''));
      root.append(h('blockquote', {}, markdown(body.join('\n'))));
      continue;
    }
    const bullet = /^\s*[-*+]\s+/;
    const numbered = /^\s*\d+[.)]\s+/;
    if (bullet.test(line) || numbered.test(line)) {
      const re = bullet.test(line) ? bullet : numbered;
      const items = [];
      while (i < lines.length && re.test(lines[i])) {
        let item = lines[i++].replace(re, '');
        // Continuation lines (indented) belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !re.test(lines[i])) item += ' ' + lines[i++].trim();
        items.push(h('li', {}, inline(item)));
      }
      root.append(h(re === bullet ? 'ul' : 'ol', {}, items));
      continue;
    }
    if (!line.trim()) { i++; continue; }
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|\s*```|\s*~~~|\s*>|\s*[-*+]\s|\s*\d+[.)]\s)/.test(lines[i])) {
      para.push(lines[i++]);
    }
    const p = h('p');
    para.forEach((l, n) => {
      if (n) p.append(h('br'));
      p.append(inline(l));
    });
    root.append(p);
  }
  return root;
}

// Emphasis with `_` only at word edges (as CommonMark: `snake_case` and `__dunder__` inside
// words stay text); `*` may sit inside words.
const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([^*]+?)(?<=\S)\*\*|(?<![\p{L}\p{N}_])__(?=\S)([^_]+?)(?<=\S)__(?![\p{L}\p{N}_])|\*(?=[^*\s])([^*]+?)(?<=\S)\*|(?<![\p{L}\p{N}_])_(?=[^_\s])([^_]+?)(?<=\S)_(?![\p{L}\p{N}_])|\[([^\]]+)\]\(([^)\s]+)\)/gu;

export function inline(text) {
  const out = document.createDocumentFragment();
  const re = new RegExp(INLINE.source, INLINE.flags);
  let at = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > at) out.append(text.slice(at, m.index));
    if (m[1]) out.append(h('code', {}, m[2]));
    else if (m[3] || m[4]) out.append(h('strong', {}, inline(m[3] || m[4])));
    else if (m[5] || m[6]) out.append(h('em', {}, inline(m[5] || m[6])));
    else out.append(link(m[7], m[8]));
    at = re.lastIndex;
  }
  if (at < text.length) out.append(text.slice(at));
  return out;
}

function link(text, href) {
  let url;
  try { url = new URL(href, location.origin); } catch { return `[${text}](${href})`; }
  const ok = ['http:', 'https:', 'mailto:'].includes(url.protocol);
  if (!ok) return `[${text}](${href})`;
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, inline(text));
}
