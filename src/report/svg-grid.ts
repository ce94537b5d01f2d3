// Several SVG charts (e.g. from lineChartSvg) laid out as one SVG grid, row by row: each chart keeps its own
// axes, which is what side-by-side views with very different scales need (raw vs rotated outliers).
import { HaloError } from '../core/errors.ts';

export function gridSvg(panels: readonly string[], opts: { columns: number; title?: string }): string {
  if (panels.length === 0) throw new HaloError('E_ARG', 'gridSvg: no panels');
  const sizes = panels.map((p) => {
    const m = /<svg[^>]*\swidth="(\d+(?:\.\d+)?)"[^>]*\sheight="(\d+(?:\.\d+)?)"/.exec(p);
    if (!m) throw new HaloError('E_ARG', 'gridSvg: a panel is not an <svg> with width and height');
    return [Number(m[1]), Number(m[2])] as const;
  });
  const cols = Math.max(1, Math.min(opts.columns, panels.length));
  const cellW = Math.max(...sizes.map((s) => s[0]));
  const cellH = Math.max(...sizes.map((s) => s[1]));
  const top = opts.title ? 32 : 0;
  const W = cols * cellW;
  const H = top + Math.ceil(panels.length / cols) * cellH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (opts.title) out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16">${opts.title.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`);
  panels.forEach((p, i) => {
    const x = (i % cols) * cellW;
    const y = top + Math.floor(i / cols) * cellH;
    out.push(`<g transform="translate(${x} ${y})">`, p.replace(/^\s*<svg xmlns="[^"]*"/, '<svg'), '</g>');
  });
  out.push('</svg>');
  return out.join('\n');
}
