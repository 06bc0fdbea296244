// A small SVG bar-chart generator: a grid of panels (one row per metric, one column per workload), each panel with
// one bar per series (policy) on its own scale, the value printed above each bar, and a shared legend.

export interface Bar {
  series: string;
  value: number;
}

export interface Panel {
  title: string;
  bars: Bar[];
}

export interface ChartRow {
  /** Metric name, printed left of the row. */
  label: string;
  panels: Panel[];
  /** Formats a value for its label. */
  format: (v: number) => string;
}

export interface Chart {
  title: string;
  subtitle?: string;
  series: string[];
  rows: ChartRow[];
}

const PALETTE = ['#9e9e9e', '#bdbdbd', '#64b5f6', '#ffb74d', '#2e7d32', '#8e24aa', '#e53935'];
const PANEL_W = 190;
const PANEL_H = 170;
const ROW_LABEL_W = 30;
const TOP = 78;
const GAP = 14;

export function renderChart(c: Chart): string {
  const cols = Math.max(...c.rows.map((r) => r.panels.length));
  const width = ROW_LABEL_W + cols * (PANEL_W + GAP) + GAP;
  const height = TOP + c.rows.length * (PANEL_H + GAP) + GAP;
  const color = (s: string) => PALETTE[Math.max(0, c.series.indexOf(s)) % PALETTE.length]!;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(GAP, 24, c.title, { size: 16, weight: 'bold' }),
  ];
  if (c.subtitle) out.push(text(GAP, 42, c.subtitle, { size: 11, fill: '#555' }));
  let x = GAP;
  for (const s of c.series) {
    out.push(`<rect x="${x}" y="54" width="12" height="12" fill="${color(s)}"/>`, text(x + 16, 64, s, { size: 11 }));
    x += 24 + s.length * 6.5;
  }
  c.rows.forEach((row, r) => {
    const y0 = TOP + r * (PANEL_H + GAP);
    out.push(text(14, y0 + PANEL_H / 2, row.label, { size: 12, weight: 'bold', anchor: 'middle', rotate: true }));
    row.panels.forEach((panel, p) => out.push(renderPanel(panel, ROW_LABEL_W + GAP + p * (PANEL_W + GAP), y0, row.format, color)));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function renderPanel(panel: Panel, x0: number, y0: number, format: (v: number) => string, color: (s: string) => string): string {
  const parts = [`<rect x="${x0}" y="${y0}" width="${PANEL_W}" height="${PANEL_H}" fill="#fafafa" stroke="#e0e0e0"/>`];
  parts.push(text(x0 + PANEL_W / 2, y0 + 16, panel.title, { size: 12, anchor: 'middle', weight: 'bold' }));
  const plotTop = y0 + 40;
  const base = y0 + PANEL_H - 12;
  const finite = panel.bars.map((b) => (Number.isFinite(b.value) && b.value > 0 ? b.value : 0));
  const max = Math.max(...finite, Number.MIN_VALUE);
  const n = panel.bars.length;
  const slot = (PANEL_W - 16) / Math.max(1, n);
  const barW = slot * 0.72;
  panel.bars.forEach((b, i) => {
    const h = ((base - plotTop) * finite[i]!) / max;
    const bx = x0 + 8 + i * slot + (slot - barW) / 2;
    parts.push(`<rect x="${r1(bx)}" y="${r1(base - h)}" width="${r1(barW)}" height="${r1(h)}" fill="${color(b.series)}"><title>${esc(`${b.series}: ${format(b.value)}`)}</title></rect>`);
    parts.push(text(bx + barW / 2, base - h - 4, Number.isFinite(b.value) ? format(b.value) : '-', { size: 9, anchor: 'middle', fill: '#333' }));
  });
  parts.push(`<line x1="${x0 + 6}" y1="${base}" x2="${x0 + PANEL_W - 6}" y2="${base}" stroke="#757575"/>`);
  return parts.join('\n');
}

interface TextStyle {
  size: number;
  weight?: 'bold';
  anchor?: 'middle' | 'end';
  fill?: string;
  rotate?: boolean;
}

function text(x: number, y: number, s: string, st: TextStyle): string {
  const attrs = [
    `x="${r1(x)}"`, `y="${r1(y)}"`, `font-size="${st.size}"`,
    st.weight ? `font-weight="${st.weight}"` : '', st.anchor ? `text-anchor="${st.anchor}"` : '',
    `fill="${st.fill ?? '#212121'}"`, st.rotate ? `transform="rotate(-90 ${r1(x)} ${r1(y)})"` : '',
  ].filter(Boolean);
  return `<text ${attrs.join(' ')}>${esc(s)}</text>`;
}

function r1(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
