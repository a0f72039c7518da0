/** Building SVG markup as strings: small, pure and fast for thousands of elements. */

/** Escape text for element content and attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** A number for a coordinate: at most two decimals, no `-0`. */
export function n(v: number): string {
  const r = Math.round(v * 100) / 100;
  return String(r === 0 ? 0 : r);
}

export type Attrs = Readonly<Record<string, string | number | undefined>>;

function attrs(a: Attrs): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined) continue;
    out += ` ${k}="${esc(typeof v === 'number' ? n(v) : v)}"`;
  }
  return out;
}

/** An element with attributes and children (markup strings). */
export function el(tag: string, a: Attrs = {}, ...children: string[]): string {
  return children.length === 0 ? `<${tag}${attrs(a)}/>` : `<${tag}${attrs(a)}>${children.join('')}</${tag}>`;
}

/** A text element whose content is escaped. */
export function text(x: number, y: number, content: string, a: Attrs = {}): string {
  return `<text${attrs({ x, y, ...a })}>${esc(content)}</text>`;
}

/** Path data of rectangles: `M x y h w v h h -w z` for each. */
export function rectsPath(rects: readonly { x: number; y: number; w: number; h: number }[]): string {
  let d = '';
  for (const r of rects) d += `M${n(r.x)} ${n(r.y)}h${n(r.w)}v${n(r.h)}h${n(-r.w)}z`;
  return d;
}
