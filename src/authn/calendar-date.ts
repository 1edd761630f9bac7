// Date.parse rolls impossible calendar dates over (2027-02-30 becomes 2 March) instead of refusing
// them, so a time written in a keys file or a revocation entry is only accepted if it reads back as
// the date that was written.

/** True when `ms` (Date.parse of `text`) falls on the year, month and day `text` names in its own zone. */
export function sameCalendarDate(text: string, ms: number): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  if (!m) return false;
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(text);
  const shift = offset ? (offset[1] === '+' ? 1 : -1) * (Number(offset[2]) * 60 + Number(offset[3])) * 60_000 : 0;
  const d = new Date(ms + shift);
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() + 1 === Number(m[2]) && d.getUTCDate() === Number(m[3]);
}
