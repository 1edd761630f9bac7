// A small strict XML 1.0 reader for tests that check XML zt-authz writes (JUnit reports): it
// throws on anything not well-formed (unbalanced or crossed tags, a raw '<' or '&' in text or
// an attribute, an unknown entity, a duplicate attribute, a character XML cannot carry) and
// returns the element tree with entities decoded, so a test reads back what was written.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_][\w.-]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const BAD_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function decode(raw: string, at: number): string {
  if (BAD_CHAR.test(raw)) throw new Error(`character not allowed in XML near offset ${at}`);
  if (raw.includes('<')) throw new Error(`raw '<' near offset ${at}`);
  return raw.replace(/&([^;]*);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new Error(`raw '&' near offset ${at}`);
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number(ref.slice(1)));
    const v = ENTITIES[ref];
    if (v === undefined) throw new Error(`unknown entity &${ref}; near offset ${at}`);
    return v;
  });
}

/** The root element of `text`; throws when the document is not well-formed. */
export function parseXml(text: string): XmlElement {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) throw new Error('unterminated XML declaration');
    i = end + 2;
  }
  skipSpace();
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < text.length) {
    if (text[i] !== '<') {
      const next = text.indexOf('<', i);
      const end = next < 0 ? text.length : next;
      const t = decode(text.slice(i, end), i);
      if (!stack.length) {
        if (t.trim()) throw new Error(`text outside the root element at offset ${i}`);
      } else stack[stack.length - 1]!.text += t;
      i = end;
      continue;
    }
    if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2));
      const open = stack.pop();
      if (!m || !open || open.name !== m[0]) throw new Error(`closing tag does not match at offset ${i}`);
      i += 2 + m[0].length;
      skipSpace();
      if (text[i] !== '>') throw new Error(`expected '>' at offset ${i}`);
      i++;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (!m) throw new Error(`bad tag at offset ${i}`);
    if (root && !stack.length) throw new Error(`a second root element at offset ${i}`);
    const el: XmlElement = { name: m[0], attrs: {}, children: [], text: '' };
    i += 1 + m[0].length;
    for (;;) {
      const before = i;
      skipSpace();
      if (text.startsWith('/>', i) || text[i] === '>') break;
      if (i === before) throw new Error(`expected a space before an attribute at offset ${i}`);
      const a = NAME.exec(text.slice(i));
      if (!a) throw new Error(`bad attribute at offset ${i}`);
      i += a[0].length;
      if (text[i] !== '=' || (text[i + 1] !== '"' && text[i + 1] !== "'")) throw new Error(`expected ="..." at offset ${i}`);
      const q = text[i + 1]!;
      const end = text.indexOf(q, i + 2);
      if (end < 0) throw new Error(`unterminated attribute at offset ${i}`);
      if (a[0] in el.attrs) throw new Error(`duplicate attribute ${a[0]} at offset ${i}`);
      el.attrs[a[0]] = decode(text.slice(i + 2, end), i);
      i = end + 1;
    }
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else root = el;
    if (text.startsWith('/>', i)) i += 2;
    else {
      i++;
      stack.push(el);
    }
  }
  if (stack.length || !root) throw new Error(`unclosed element ${stack[stack.length - 1]?.name ?? '(none)'}`);
  return root;
}
