// The one place on the browser side where offsets change units. Python counts code
// points; JavaScript strings, DOM Ranges and selections count UTF-16 code units.
// A code point above U+FFFF (most emoji) is two units (a surrogate pair).

export class OffsetMap {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
    /** @type {number[]} code point index -> UTF-16 unit index (length cps + 1) */
    const toUnit = [];
    /** @type {Int32Array} UTF-16 unit index -> code point index (length units + 1) */
    const toCp = new Int32Array(text.length + 1);
    let unit = 0, cp = 0;
    for (const ch of text) { // iterates code points
      toUnit.push(unit);
      toCp[unit] = cp;
      if (ch.length === 2) toCp[unit + 1] = cp; // inside a pair: rounds down
      unit += ch.length;
      cp += 1;
    }
    toUnit.push(unit);
    toCp[unit] = cp;
    this.toUnitTable = toUnit;
    this.toCpTable = toCp;
    /** number of code points */ this.length = cp;
  }
  /** a Python offset (code points) as a UTF-16 offset @param {number} cp */
  toUnits(cp) {
    if (!Number.isInteger(cp) || cp < 0 || cp > this.length) {
      throw new RangeError(`offset ${cp} is outside the text (0..${this.length} code points)`);
    }
    return this.toUnitTable[cp];
  }
  /** a UTF-16 offset as a Python offset; inside a surrogate pair it rounds down, or up with ``up`` @param {number} unit @param {boolean} [up] */
  toCodePoints(unit, up = false) {
    if (!Number.isInteger(unit) || unit < 0 || unit > this.text.length) {
      throw new RangeError(`offset ${unit} is outside the text (0..${this.text.length} UTF-16 units)`);
    }
    const cp = this.toCpTable[unit];
    if (up && this.toUnitTable[cp] !== unit) return cp + 1;
    return cp;
  }
}

/** @param {string} text @param {number} cp */
export function cpToUnits(text, cp) { return new OffsetMap(text).toUnits(cp); }
/** @param {string} text @param {number} unit */
export function unitsToCp(text, unit) { return new OffsetMap(text).toCodePoints(unit); }
