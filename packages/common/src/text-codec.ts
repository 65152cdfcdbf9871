/*
 * The platform's text codec: one rule, used by every store that binds a JavaScript string into a
 * text column (the brain's and the task queue's, on SQLite and on PostgreSQL), so both stores
 * accept every JavaScript string and return it unchanged.
 *
 * Why: PostgreSQL's text refuses U+0000 outright ("invalid byte sequence for encoding UTF8:
 * 0x00"), and neither store keeps a lone surrogate (an unpaired U+D800–U+DFFF, which JSON.parse
 * produces from "\ud800"): the pg driver sends U+FFFD, better-sqlite3 stores the WTF-8 bytes
 * and reads back three U+FFFD — so two distinct strings can collapse into one key. Such text is
 * encoded, with U+0010 (DLE, "data link escape") as the escape character:
 *
 *   U+0010                  → U+0010 U+0010
 *   U+0000                  → U+0010 "0"
 *   a lone surrogate U+Dxxx → U+0010 "dxxx" (four lowercase hex digits)
 *
 * Every other character, including well-formed surrogate pairs, is stored as it is, so ordinary
 * text is stored unchanged and the encoding is character-local: prefixes, equality, uniqueness
 * and substring searches for digits behave on encoded values as on the originals. Decoding leaves
 * a U+0010 not followed by one of those forms as it is.
 *
 * JSON documents need no codec when they are stored as JSON text (SQLite TEXT, PostgreSQL json):
 * JSON.stringify escapes U+0000, U+0010 and lone surrogates as \uXXXX, which both keep.
 * PostgreSQL's jsonb does not (it refuses \u0000 and lone surrogates, reorders members).
 */
const ESC = "\u0010";
// eslint-disable-next-line no-control-regex -- U+0000 and U+0010 are what the codec escapes
const NEEDS_ENCODING = /[\u0000\u0010]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const ENCODED_SURROGATE = /^d[89a-f][0-9a-f]{2}$/;

/** A string as a store holds it (see above); ordinary text is returned as it is. */
export function encodeText(s: string): string {
  if (!NEEDS_ENCODING.test(s)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x10) out += ESC + ESC;
    else if (c === 0) out += ESC + "0";
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      out += s.slice(i, i + 2);
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += ESC + c.toString(16);
    else out += s[i] as string;
  }
  return out;
}

/** The string encodeText was given. */
export function decodeText(s: string): string {
  if (!s.includes(ESC)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch !== ESC) {
      out += ch;
      continue;
    }
    const next = s[i + 1];
    const hex = s.slice(i + 1, i + 5);
    if (next === ESC) {
      out += ESC;
      i++;
    } else if (next === "0") {
      out += "\u0000";
      i++;
    } else if (ENCODED_SURROGATE.test(hex)) {
      out += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else out += ch;
  }
  return out;
}
