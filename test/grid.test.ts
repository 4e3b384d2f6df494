import { describe, it, expect } from 'vitest';
import { mulberry32 } from '../src/engine/random.ts';
import { makeGrid, gridLayout, type GridOptions } from '../src/invert/grid.ts';
import { drawText, lineHeight, textWidth, toFontText, wrapText } from '../src/invert/bitmap-font.ts';
import { createImage, quantize8, type Rgb, type RgbImage } from '../src/invert/image.ts';
import { decodeImage, encodePng } from '../src/node/images.ts';

const SEED = (Date.now() ^ (process.pid << 8)) >>> 0;
const rand = mulberry32(SEED);
const why = `(seed ${SEED})`;

const solid = (w: number, h: number, c: Rgb): RgbImage => createImage(w, h, c);
const px = (img: RgbImage, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
/** pixels darker than 0.3 (ink) inside a rectangle */
function inkIn(img: RgbImage, x0: number, y0: number, w: number, h: number): number {
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(img.height, y0 + h); y++) {
    for (let x = Math.max(0, x0); x < Math.min(img.width, x0 + w); x++) {
      const [r, g, b] = px(img, x, y);
      if (r < 0.3 && g < 0.3 && b < 0.3) n++;
    }
  }
  return n;
}

function sweep(rows: number, cols: number, cellSize: number, extra: Partial<GridOptions> = {}): GridOptions {
  const colors: Rgb[] = [[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.3, 0.9], [0.9, 0.8, 0.1]];
  return {
    // odd, non-square cell images: fitted with aspect kept
    cells: Array.from({ length: rows }, (_, r) =>
      Array.from({ length: cols }, (_, c) => solid(31 + 2 * r, 23 + c, colors[(r + c) % colors.length])),
    ),
    rowLabels: Array.from({ length: rows }, (_, r) => `features.${r * 3}`),
    colLabels: Array.from({ length: cols }, (_, c) => `lambda_alpha=1e-${c + 3}`),
    cellSize,
    ...extra,
  };
}

describe('bitmap font', () => {
  it("draws the glyph bitmap exactly ('T' at scale 1: top bar then a stem)", () => {
    const img = createImage(8, 9, [1, 1, 1]);
    drawText(img, 'T', 1, 1, 1, [0, 0, 0]);
    for (let x = 1; x <= 5; x++) expect(px(img, x, 1)[0], `bar x=${x}`).toBe(0);
    for (let y = 2; y <= 7; y++) {
      expect(px(img, 3, y)[0], `stem y=${y}`).toBe(0);
      expect(px(img, 2, y)[0]).toBe(1);
    }
    expect(inkIn(img, 0, 0, 8, 9)).toBe(5 + 6);
  });
  it('every printable ASCII character except space has ink; scale multiplies the ink', () => {
    for (let code = 33; code <= 126; code++) {
      const ch = String.fromCharCode(code);
      const a = createImage(6, 10, [1, 1, 1]), b = createImage(18, 30, [1, 1, 1]);
      drawText(a, ch, 0, 0, 1, [0, 0, 0]);
      drawText(b, ch, 0, 0, 3, [0, 0, 0]);
      const n = inkIn(a, 0, 0, 6, 10);
      expect(n, `'${ch}'`).toBeGreaterThan(0);
      expect(inkIn(b, 0, 0, 18, 30)).toBe(9 * n);
    }
  });
  it('spells Greek letters, wraps long labels at _ = . or mid-word', () => {
    expect(toFontText('λ_TV=1e-5, σ×2')).toBe('lambda_TV=1e-5, sigmax2');
    expect(toFontText('日本')).toBe('??');
    expect(textWidth('abc', 2)).toBe((3 * 6 - 1) * 2);
    expect(wrapText('lambda_alpha=1e-5', 120, 2)).toEqual(['lambda_', 'alpha=1e-5']);
    expect(wrapText('abcdefghijklmnop', 60, 1)).toEqual(['abcdefghij', 'klmnop']);
    for (const line of wrapText('features.10 lambda_alpha=1e-5 sigma=2.5', 100, 2)) {
      expect(textWidth(line, 2)).toBeLessThanOrEqual(100);
    }
  });
});

describe('makeGrid', () => {
  it('sizes: each extra column/row adds cellSize + gap, the original adds a column', () => {
    const cs = 37 + Math.floor(rand() * 40);
    const g23 = makeGrid(sweep(2, 3, cs));
    const g24 = makeGrid(sweep(2, 4, cs));
    const g33 = makeGrid(sweep(3, 3, cs));
    const orig = makeGrid(sweep(2, 3, cs, { original: solid(45, 30, [0.5, 0.5, 0.5]) }));
    const colStep = g24.width - g23.width;
    expect(colStep, why).toBe(g33.height - g23.height);
    expect(colStep).toBeGreaterThan(cs);
    expect(colStep).toBeLessThan(cs + 20);
    expect(orig.width - g23.width).toBe(colStep);
    expect(g23.data.length).toBe(g23.width * g23.height * 3);
    const L = gridLayout(sweep(2, 3, cs));
    expect([L.width, L.height]).toEqual([g23.width, g23.height]);
    // a title adds at least one text line on top
    const titled = makeGrid(sweep(2, 3, cs, { title: 'AlexNet, chelsea.png' }));
    expect(titled.height - g23.height).toBeGreaterThanOrEqual(lineHeight(2));
    expect(titled.width).toBe(g23.width);
  });

  it('draws labels: ink above every column, left of every row, none inside the image cells', () => {
    const opts = sweep(3, 4, 96, { original: solid(60, 40, [0.6, 0.6, 0.6]), title: 'title' });
    const g = makeGrid(opts);
    const L = gridLayout(opts);
    for (let c = 0; c < 5; c++) {
      expect(inkIn(g, L.cellX(c), L.headerY, 96, L.headerH), `header col ${c}`).toBeGreaterThan(20);
    }
    for (let r = 0; r < 3; r++) {
      expect(inkIn(g, 0, L.cellY(r), L.cellX(0), 96), `row label ${r}`).toBeGreaterThan(20);
    }
    expect(inkIn(g, 0, 0, g.width, L.headerY)).toBeGreaterThan(20); // title
    // cell image pasted, aspect kept, centered: the cell's middle has the cell colour
    const mid = px(g, L.cellX(1) + 48, L.cellY(0) + 48);
    opts.cells[0][0]!.data.subarray(0, 3).forEach((v, i) => expect(mid[i]).toBeCloseTo(v, 5));
    // original in column 0, top row; nothing below it
    expect(px(g, L.cellX(0) + 48, L.cellY(0) + 48)[0]).toBeCloseTo(0.6, 5);
    expect(px(g, L.cellX(0) + 48, L.cellY(1) + 48)[0]).toBeCloseTo(0.96, 5);
    for (let r = 0; r < 3; r++) for (let c = 1; c < 5; c++) expect(inkIn(g, L.cellX(c), L.cellY(r), 96, 96)).toBe(0);
  });

  it('null and non-finite cells are grey boxes with a cross and "diverged"', () => {
    const opts = sweep(2, 3, 120);
    opts.cells[0][1] = null;
    const bad = solid(20, 20, [0.5, 0.5, 0.5]);
    bad.data[17] = NaN;
    opts.cells[1][2] = bad;
    const g = makeGrid(opts);
    const L = gridLayout(opts);
    for (const [r, c] of [[0, 1], [1, 2]]) {
      const x = L.cellX(c), y = L.cellY(r);
      expect(px(g, x + 60, y + 10)[0], 'grey box').toBeGreaterThan(0.4);
      expect(px(g, x + 60, y + 10)[0]).toBeLessThan(0.9);
      expect(inkIn(g, x, y + 40, 120, 40), `"diverged" text in (${r}, ${c})`).toBeGreaterThan(30);
      expect(px(g, x + 10, y + 10)).not.toEqual(px(g, x + 60, y + 10)); // cross on the diagonal
    }
    for (let i = 0; i < g.data.length; i++) if (!Number.isFinite(g.data[i])) throw new Error(`NaN at ${i}`);
  });

  it('rejects mismatched shapes with a message naming the row', () => {
    const opts = sweep(2, 3, 50);
    opts.cells[1].pop();
    expect(() => makeGrid(opts)).toThrow(/row 1 \('features.3'\) has 2 cells but there are 3 column labels/);
    expect(() => makeGrid({ ...sweep(2, 3, 50), rowLabels: ['a'] })).toThrow(/2 rows of cells but 1 row labels/);
    expect(() => makeGrid(sweep(2, 3, 4))).toThrow(/cellSize/);
  });

  it('PNG round trip is exact after 8-bit quantisation', () => {
    const g = makeGrid(sweep(2, 2, 64, { original: solid(50, 70, [0.3, 0.4, 0.5]), title: 'round trip λ' }));
    const back = decodeImage(encodePng(g), 'grid.png');
    expect([back.width, back.height]).toEqual([g.width, g.height]);
    const q = quantize8(g).data;
    let diff = 0;
    for (let i = 0; i < q.length; i++) if (back.data[i] !== q[i]) diff++;
    expect(diff, 'values differing after the round trip').toBe(0);
  });
});
