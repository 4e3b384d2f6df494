// A 5x7 bitmap font for printable ASCII (32..126), drawn into RgbImage for grid labels.
// Glyphs are 5 wide, 7 rows above the baseline plus 2 optional descender rows (g j p q y),
// drawn in a 6x10 cell. Each glyph: 7 or 9 rows of 5, '#' = ink.

import type { Rgb, RgbImage } from './image.ts';

const GLYPHS: readonly string[] = [
  '..... ..... ..... ..... ..... ..... .....', // ' '
  '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..', // !
  '.#.#. .#.#. .#.#. ..... ..... ..... .....', // "
  '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.', // #
  '..#.. .#### #.#.. .###. ..#.# ####. ..#..', // $
  '##... ##..# ...#. ..#.. .#... #..## ...##', // %
  '.##.. #..#. #.#.. .#... #.#.# #..#. .##.#', // &
  '..#.. ..#.. .#... ..... ..... ..... .....', // '
  '...#. ..#.. .#... .#... .#... ..#.. ...#.', // (
  '.#... ..#.. ...#. ...#. ...#. ..#.. .#...', // )
  '..... ..#.. #.#.# .###. #.#.# ..#.. .....', // *
  '..... ..#.. ..#.. ##### ..#.. ..#.. .....', // +
  '..... ..... ..... ..... .##.. ..#.. .#...', // ,
  '..... ..... ..... ##### ..... ..... .....', // -
  '..... ..... ..... ..... ..... .##.. .##..', // .
  '..... ....# ...#. ..#.. .#... #.... .....', // /
  '.###. #...# #..## #.#.# ##..# #...# .###.', // 0
  '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.', // 1
  '.###. #...# ....# ...#. ..#.. .#... #####', // 2
  '##### ...#. ..#.. ...#. ....# #...# .###.', // 3
  '...#. ..##. .#.#. #..#. ##### ...#. ...#.', // 4
  '##### #.... ####. ....# ....# #...# .###.', // 5
  '..##. .#... #.... ####. #...# #...# .###.', // 6
  '##### ....# ...#. ..#.. .#... .#... .#...', // 7
  '.###. #...# #...# .###. #...# #...# .###.', // 8
  '.###. #...# #...# .#### ....# ...#. .##..', // 9
  '..... .##.. .##.. ..... .##.. .##.. .....', // :
  '..... .##.. .##.. ..... .##.. ..#.. .#...', // ;
  '...#. ..#.. .#... #.... .#... ..#.. ...#.', // <
  '..... ..... ##### ..... ##### ..... .....', // =
  '.#... ..#.. ...#. ....# ...#. ..#.. .#...', // >
  '.###. #...# ....# ...#. ..#.. ..... ..#..', // ?
  '.###. #...# ....# .##.# #.#.# #.#.# .###.', // @
  '.###. #...# #...# ##### #...# #...# #...#', // A
  '####. #...# #...# ####. #...# #...# ####.', // B
  '.###. #...# #.... #.... #.... #...# .###.', // C
  '###.. #..#. #...# #...# #...# #..#. ###..', // D
  '##### #.... #.... ####. #.... #.... #####', // E
  '##### #.... #.... ####. #.... #.... #....', // F
  '.###. #...# #.... #.### #...# #...# .####', // G
  '#...# #...# #...# ##### #...# #...# #...#', // H
  '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.', // I
  '..### ...#. ...#. ...#. ...#. #..#. .##..', // J
  '#...# #..#. #.#.. ##... #.#.. #..#. #...#', // K
  '#.... #.... #.... #.... #.... #.... #####', // L
  '#...# ##.## #.#.# #.#.# #...# #...# #...#', // M
  '#...# #...# ##..# #.#.# #..## #...# #...#', // N
  '.###. #...# #...# #...# #...# #...# .###.', // O
  '####. #...# #...# ####. #.... #.... #....', // P
  '.###. #...# #...# #...# #.#.# #..#. .##.#', // Q
  '####. #...# #...# ####. #.#.. #..#. #...#', // R
  '.#### #.... #.... .###. ....# ....# ####.', // S
  '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..', // T
  '#...# #...# #...# #...# #...# #...# .###.', // U
  '#...# #...# #...# #...# .#.#. .#.#. ..#..', // V
  '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.', // W
  '#...# #...# .#.#. ..#.. .#.#. #...# #...#', // X
  '#...# #...# #...# .#.#. ..#.. ..#.. ..#..', // Y
  '##### ....# ...#. ..#.. .#... #.... #####', // Z
  '.###. .#... .#... .#... .#... .#... .###.', // [
  '..... #.... .#... ..#.. ...#. ....# .....', // backslash
  '.###. ...#. ...#. ...#. ...#. ...#. .###.', // ]
  '..#.. .#.#. #...# ..... ..... ..... .....', // ^
  '..... ..... ..... ..... ..... ..... #####', // _
  '.#... ..#.. ...#. ..... ..... ..... .....', // `
  '..... ..... .###. ....# .#### #...# .####', // a
  '#.... #.... #.##. ##..# #...# #...# ####.', // b
  '..... ..... .###. #.... #.... #...# .###.', // c
  '....# ....# .##.# #..## #...# #...# .####', // d
  '..... ..... .###. #...# ##### #.... .###.', // e
  '..##. .#..# .#... ###.. .#... .#... .#...', // f
  '..... ..... .#### #...# #...# #...# .#### ....# .###.', // g
  '#.... #.... #.##. ##..# #...# #...# #...#', // h
  '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.', // i
  '...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..', // j
  '#.... #.... #..#. #.#.. ##... #.#.. #..#.', // k
  '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.', // l
  '..... ..... ##.#. #.#.# #.#.# #...# #...#', // m
  '..... ..... #.##. ##..# #...# #...# #...#', // n
  '..... ..... .###. #...# #...# #...# .###.', // o
  '..... ..... ####. #...# #...# #...# ####. #.... #....', // p
  '..... ..... .#### #...# #...# #...# .#### ....# ....#', // q
  '..... ..... #.##. ##..# #.... #.... #....', // r
  '..... ..... .###. #.... .###. ....# ####.', // s
  '.#... .#... ###.. .#... .#... .#..# ..##.', // t
  '..... ..... #...# #...# #...# #..## .##.#', // u
  '..... ..... #...# #...# .#.#. .#.#. ..#..', // v
  '..... ..... #...# #...# #.#.# #.#.# .#.#.', // w
  '..... ..... #...# .#.#. ..#.. .#.#. #...#', // x
  '..... ..... #...# #...# #...# #...# .#### ....# .###.', // y
  '..... ..... ##### ...#. ..#.. .#... #####', // z
  '...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.', // {
  '..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..', // |
  '.#... ..#.. ..#.. ...#. ..#.. ..#.. .#...', // }
  '..... ..... .#... #.#.# ...#. ..... .....', // ~
];

export const GLYPH_W = 5;
/** rows per glyph including the 2 descender rows */
export const GLYPH_H = 9;
/** advance per character and per line, in font pixels (before scaling) */
export const CELL_W = 6;
export const CELL_H = 10;

// row bitmasks, bit 4 = leftmost column
const BITS: Uint8Array = (() => {
  if (GLYPHS.length !== 95) throw new Error(`bitmap-font: expected 95 glyphs, have ${GLYPHS.length}`);
  const bits = new Uint8Array(95 * GLYPH_H);
  GLYPHS.forEach((g, i) => {
    const rows = g.split(' ');
    if ((rows.length !== 7 && rows.length !== 9) || rows.some((r) => !/^[.#]{5}$/.test(r))) {
      throw new Error(`bitmap-font: glyph for '${String.fromCharCode(32 + i)}' is not 7 or 9 rows of 5`);
    }
    rows.forEach((r, y) => {
      let m = 0;
      for (let x = 0; x < GLYPH_W; x++) if (r[x] === '#') m |= 1 << (GLYPH_W - 1 - x);
      bits[i * GLYPH_H + y] = m;
    });
  });
  return bits;
})();

const SPELLED: Record<string, string> = {
  'λ': 'lambda', 'α': 'alpha', 'β': 'beta', 'σ': 'sigma', 'μ': 'u', 'µ': 'u', 'ε': 'eps',
  'θ': 'theta', 'φ': 'phi', 'Δ': 'delta', '×': 'x', '·': '.', '−': '-', '–': '-', '—': '-',
  '’': "'", '‘': "'", '“': '"', '”': '"', '…': '...', '≤': '<=', '≥': '>=', '²': '^2',
};

/** Text as the font can draw it: known Greek letters spelled out, other non-ASCII as '?'. */
export function toFontText(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 32 && code <= 126) out += ch;
    else if (ch === '\t') out += ' ';
    else out += SPELLED[ch] ?? '?';
  }
  return out;
}

export function textWidth(text: string, scale: number): number {
  const n = toFontText(text).length;
  return n === 0 ? 0 : (n * CELL_W - 1) * scale;
}

export function lineHeight(scale: number): number {
  return CELL_H * scale;
}

/** Draws one line with its top-left corner at (x, y); pixels outside the image are skipped. */
export function drawText(img: RgbImage, text: string, x: number, y: number, scale: number, color: Rgb): void {
  const s = toFontText(text);
  const { width, height, data } = img;
  for (let i = 0; i < s.length; i++) {
    const g = (s.charCodeAt(i) - 32) * GLYPH_H;
    const gx = x + i * CELL_W * scale;
    for (let r = 0; r < GLYPH_H; r++) {
      const m = BITS[g + r];
      if (m === 0) continue;
      for (let c = 0; c < GLYPH_W; c++) {
        if (!(m & (1 << (GLYPH_W - 1 - c)))) continue;
        for (let dy = 0; dy < scale; dy++) {
          const py = y + r * scale + dy;
          if (py < 0 || py >= height) continue;
          for (let dx = 0; dx < scale; dx++) {
            const px = gx + c * scale + dx;
            if (px < 0 || px >= width) continue;
            const o = (py * width + px) * 3;
            data[o] = color[0];
            data[o + 1] = color[1];
            data[o + 2] = color[2];
          }
        }
      }
    }
  }
}

/**
 * Splits text into lines of at most maxWidth pixels, breaking after ' ', '_', '=', ',', '/'
 * or '.' where possible and mid-word otherwise.
 */
export function wrapText(text: string, maxWidth: number, scale: number): string[] {
  const s = toFontText(text);
  const perLine = Math.max(1, Math.floor((maxWidth / scale + 1) / CELL_W));
  const lines: string[] = [];
  let rest = s;
  while (rest.length > perLine) {
    let cut = -1;
    for (let i = perLine; i >= 1; i--) {
      if (' _=,/.'.includes(rest[i - 1])) { cut = i; break; }
    }
    if (cut < Math.ceil(perLine / 3)) cut = perLine; // a break that early wastes the line
    lines.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.length > 0 || lines.length === 0) lines.push(rest);
  return lines;
}
