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

const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/;

export function inline(text) {
  const out = document.createDocumentFragment();
  let rest = text;
  while (rest) {
    const m = rest.match(INLINE);
    if (!m) { out.append(rest); break; }
    if (m.index) out.append(rest.slice(0, m.index));
    if (m[1]) out.append(h('code', {}, m[2]));
    else if (m[3] || m[4]) out.append(h('strong', {}, inline(m[3] || m[4])));
    else if (m[5] || m[6]) out.append(h('em', {}, inline(m[5] || m[6])));
    else out.append(link(m[7], m[8]));
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

function link(text, href) {
  let url;
  try { url = new URL(href, location.origin); } catch { return `[${text}](${href})`; }
  const ok = ['http:', 'https:', 'mailto:'].includes(url.protocol);
  if (!ok) return `[${text}](${href})`;
  return h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, inline(text));
}
