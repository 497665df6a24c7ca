// Undo/redo history of whole states (pure; no DOM). Each state is cloned on the way
// in and out, so callers may mutate what they get back.

/** @template T @param {T} v @returns {T} */
function cloneState(v) {
  return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

/** @template T */
export class History {
  /** @param {T} state @param {number} [limit] */
  constructor(state, limit = 500) {
    /** @type {T} */ this._state = cloneState(state);
    /** @type {T[]} */ this.past = [];
    /** @type {T[]} */ this.future = [];
    this.limit = limit;
  }
  /** the current (committed) state, as a fresh copy @returns {T} */
  get state() { return cloneState(this._state); }
  get canUndo() { return this.past.length > 0; }
  get canRedo() { return this.future.length > 0; }
  /** commit a new state (one undoable step); clears the redo stack @param {T} next */
  push(next) {
    this.past.push(this._state);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
    this._state = cloneState(next);
  }
  /** @returns {T | null} the restored state, or null when there is nothing to undo */
  undo() {
    if (!this.past.length) return null;
    this.future.push(this._state);
    this._state = /** @type {T} */ (this.past.pop());
    return this.state;
  }
  /** @returns {T | null} */
  redo() {
    if (!this.future.length) return null;
    this.past.push(this._state);
    this._state = /** @type {T} */ (this.future.pop());
    return this.state;
  }
  /** forget the history (a new item) and start from ``state`` @param {T} state */
  reset(state) {
    this.past = []; this.future = [];
    this._state = cloneState(state);
  }
}
