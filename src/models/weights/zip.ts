// Minimal read-only zip reader, enough for torch.save archives: stored (method 0)
// entries only, zip64 aware, and every offset checked against the buffer. Entry data
// is handed out as subarray views of the input, never copied.

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export interface ZipArchive {
  entries: ZipEntry[];
  /** Entry by exact name (first one wins if a name repeats). */
  get(name: string): ZipEntry | undefined;
  /** The entry's bytes as a view into the archive buffer. */
  data(entry: ZipEntry): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;

export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export function readZip(bytes: Uint8Array): ZipArchive {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number, what: string) => {
    const lo = view.getUint32(at, true);
    const hi = view.getUint32(at + 4, true);
    // Anything past 2^53 cannot be a real offset into a buffer we hold.
    if (hi >= 0x200000) throw new Error(`zip ${what} at byte ${at} is too large (${hi} * 2^32)`);
    return hi * 0x100000000 + lo;
  };

  // End of central directory: the last 22+ bytes, possibly followed by a comment of at
  // most 65535 bytes, so the search never looks further back than that.
  let eocd = -1;
  const lowest = Math.max(0, len - EOCD_SIZE - MAX_COMMENT);
  for (let i = len - EOCD_SIZE; i >= lowest; i--) {
    if (u32(i) === SIG_EOCD && i + EOCD_SIZE + u16(i + 20) <= len) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`not a zip archive or truncated: no end-of-central-directory record (${len} bytes)`);

  let diskNo = u16(eocd + 4);
  let cdDisk = u16(eocd + 6);
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let endOfCd = eocd; // where the central directory must end at the latest

  const loc = eocd - 20;
  if (loc >= 0 && u32(loc) === SIG_ZIP64_LOCATOR) {
    const rec = u64(loc + 8, 'zip64 end record offset');
    if (rec + 56 > loc) throw new Error(`zip64 end record offset ${rec} is out of range (locator at byte ${loc})`);
    if (u32(rec) !== SIG_ZIP64_EOCD) throw new Error(`zip64 end record signature missing at byte ${rec}`);
    diskNo = u32(rec + 16);
    cdDisk = u32(rec + 20);
    count = u64(rec + 32, 'zip64 entry count');
    cdSize = u64(rec + 40, 'zip64 central directory size');
    cdOffset = u64(rec + 48, 'zip64 central directory offset');
    endOfCd = rec;
  }
  if (diskNo !== 0 || cdDisk !== 0) throw new Error(`multi-disk zip archives are not supported`);
  if (cdOffset + cdSize > endOfCd) {
    throw new Error(
      `zip central directory (offset ${cdOffset}, ${cdSize} bytes) runs past its end record at byte ${endOfCd}`,
    );
  }
  if (count > Math.floor(cdSize / CENTRAL_SIZE)) {
    throw new Error(`zip entry count ${count} exceeds what a ${cdSize}-byte central directory can hold`);
  }

  const decoder = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  const byName = new Map<string, ZipEntry>();
  const cdEnd = cdOffset + cdSize;
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cdEnd) throw new Error(`zip central directory entry ${i} at byte ${p} is truncated`);
    if (u32(p) !== SIG_CENTRAL) throw new Error(`zip central directory entry ${i} has a bad signature at byte ${p}`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localHeaderOffset = u32(p + 42);
    const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > cdEnd) throw new Error(`zip central directory entry ${i} at byte ${p} runs past the directory`);
    const name = decoder.decode(bytes.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));

    // zip64 extra field: 8-byte values for exactly those fields whose 32-bit value is all ones.
    let e = p + CENTRAL_SIZE + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = u16(e);
      const sz = u16(e + 2);
      const body = e + 4;
      if (body + sz > extraEnd) throw new Error(`zip extra field of '${name}' at byte ${e} is truncated`);
      if (id === 0x0001) {
        let q = body;
        const take = (what: string) => {
          if (q + 8 > body + sz) throw new Error(`zip64 extra field of '${name}' lacks the ${what}`);
          const v = u64(q, `zip64 ${what} of '${name}'`);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take('local header offset');
      }
      e = body + sz;
    }
    const entry: ZipEntry = { name, method, flags, compressedSize, size, localHeaderOffset };
    entries.push(entry);
    if (!byName.has(name)) byName.set(name, entry);
    p = next;
  }

  const data = (entry: ZipEntry): Uint8Array => {
    const { name, localHeaderOffset: at } = entry;
    if (entry.flags & 1) throw new Error(`zip entry '${name}' is encrypted`);
    if (entry.method !== 0) {
      throw new Error(
        `zip entry '${name}' is compressed (method ${entry.method}); only stored entries are supported, as torch.save writes them`,
      );
    }
    if (entry.size !== entry.compressedSize) {
      throw new Error(`zip entry '${name}' is stored but its sizes disagree (${entry.compressedSize} vs ${entry.size})`);
    }
    if (at + LOCAL_SIZE > cdOffset) throw new Error(`zip local header of '${name}' at byte ${at} is out of range`);
    if (u32(at) !== SIG_LOCAL) throw new Error(`zip local header of '${name}' has a bad signature at byte ${at}`);
    // Sizes come from the central directory: torch writes zeros here (flag 0x08).
    const start = at + LOCAL_SIZE + u16(at + 26) + u16(at + 28);
    const end = start + entry.compressedSize;
    if (end > cdOffset) {
      throw new Error(`zip entry '${name}' (${entry.compressedSize} bytes at byte ${start}) runs past the entry area`);
    }
    return bytes.subarray(start, end);
  };

  return { entries, get: (n) => byName.get(n), data };
}
