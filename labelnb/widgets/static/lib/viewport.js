// The image canvas of the drawing widgets (boxes, polygons, masks): the display image
// under a zoom/pan view, brightness/contrast, wheel zoom, Space+drag or middle-drag
// pan, and the one conversion from a pointer to display-image pixels. The widget
// keeps its own regions and draws them over what paint() laid down.

import { clamp, snap, clampView, zoomView, viewToImage, imageFilter } from "./geometry.js";
import { h, makeImageLoader, adjustControls, canvasPoint } from "./ui.js";

/**
 * The canvas (``.canvas``, to place in the widget's stage) and its view. ``draw``
 * redraws the widget (it calls paint() first); ``onImage`` runs after the item's
 * image was painted. The wheel zooms only while ``root`` has the focus.
 * @param {any} model @param {HTMLElement} root @param {() => void} draw @param {() => void} [onImage]
 */
export function makeViewport(model, root, draw, onImage = () => {}) {
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", "lnb-canvas"));
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  /** @type {HTMLImageElement | null} */ let image = null;
  let filter = "none";
  /** the view: zoom z >= 1; (ox, oy) is the display-image pixel at the canvas' top-left */
  let view = { z: 1, ox: 0, oy: 0 };
  let spaceDown = false;
  /** @type {{cx: number, cy: number, view: {z: number, ox: number, oy: number}} | null} */ let pan = null;
  let shownKey = ""; // the item on the canvas
  const item = () => model.get("_item") || {};

  const adjust = adjustControls((b, c) => { filter = imageFilter(b, c); draw(); });
  const loader = makeImageLoader(model, (img, key, prefetched) => {
    if (key !== item().key) return;
    image = img;
    draw();
    root.dataset.ready = "1";
    root.dataset.prefetched = prefetched ? "1" : "0";
    onImage();
  });

  /** display-image pixels per CSS pixel, to keep lines and handles a constant on-screen size */
  function pxRatio() {
    const r = canvas.getBoundingClientRect();
    return (r.width > 0 ? canvas.width / r.width : 1) / view.z;
  }
  /** @param {{z: number, ox: number, oy: number}} v */
  function setView(v) { view = clampView(v, canvas.width, canvas.height); draw(); }
  /** zoom by factor f keeping the canvas point (cx, cy) fixed @param {number} f @param {number} cx @param {number} cy */
  function zoomAt(f, cx, cy) { setView(zoomView(view, f, cx, cy, canvas.width, canvas.height)); }
  function fit() { setView({ z: 1, ox: 0, oy: 0 }); }
  /** a middle-button press, or a left one while Space is held, starts a pan; true if it did
   * @param {PointerEvent} e @param {{cx: number, cy: number}} p */
  function startPan(e, p) {
    if (!(e.button === 1 || (e.button === 0 && spaceDown))) return false;
    canvas.setPointerCapture(e.pointerId);
    pan = { cx: p.cx, cy: p.cy, view: { ...view } };
    return true;
  }
  /** follow the pointer while panning; true if a pan is under way @param {{cx: number, cy: number}} p */
  function panTo(p) {
    if (!pan) return false;
    setView({ z: pan.view.z, ox: pan.view.ox - (p.cx - pan.cx) / pan.view.z,
              oy: pan.view.oy - (p.cy - pan.cy) / pan.view.z });
    return true;
  }

  /**
   * The one conversion on this side: pointer position -> display image pixels (CSS
   * pixels of the scaled canvas element, then the zoom/pan view), snapped to the
   * ORIGINAL pixel grid (g = display pixels per original pixel), so that what is drawn
   * is what Python stores (whole original pixels). (cx, cy) is the canvas pixel.
   * @param {{clientX: number, clientY: number}} e
   */
  function toImage(e) {
    const [cx, cy] = canvasPoint(canvas, e);
    const it = item();
    const gx = it.width ? canvas.width / it.width : 1, gy = it.height ? canvas.height / it.height : 1;
    const [x, y] = viewToImage(view, cx, cy);
    return { x: clamp(snap(x, gx), 0, canvas.width), y: clamp(snap(y, gy), 0, canvas.height), cx, cy };
  }

  /** clear the canvas, then the image (or grey while it loads) under the view; sets a
   * label font and returns the display-image pixels per CSS pixel */
  function paint() {
    const w = canvas.width, hgt = canvas.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    ctx.setTransform(view.z, 0, 0, view.z, -view.ox * view.z, -view.oy * view.z);
    if (image) {
      ctx.filter = filter; // brightness / contrast, in the browser
      ctx.drawImage(image, 0, 0, w, hgt);
      ctx.filter = "none";
    } else { ctx.fillStyle = "#ddd"; ctx.fillRect(0, 0, w, hgt); }
    root.classList.toggle("lnb-has-image", !!item().has_image);
    const k = pxRatio();
    ctx.font = `${Math.round(12 * k)}px sans-serif`;
    return k;
  }

  canvas.addEventListener("wheel", (e) => { // zoom, only while the widget has the focus
    if (document.activeElement !== root) return;
    e.preventDefault();
    const [cx, cy] = canvasPoint(canvas, e);
    zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, cx, cy);
  }, { passive: false });
  root.addEventListener("keyup", (e) => { if (e.key === " ") spaceDown = false; });
  root.addEventListener("blur", () => { spaceDown = false; });

  return {
    canvas, ctx, adjust, toImage, pxRatio, fit, paint, panTo,
    get view() { return view; },
    /** the key of the item on the canvas */
    get key() { return shownKey; },
    /** the widget's pointer handlers (``up`` also ends a cancelled pointer)
     * @param {(e: PointerEvent) => void} down @param {(e: PointerEvent) => void} move @param {(e: PointerEvent) => void} up */
    onPointer(down, move, up) {
      canvas.addEventListener("pointerdown", down);
      canvas.addEventListener("pointermove", move);
      canvas.addEventListener("pointerup", up);
      canvas.addEventListener("pointercancel", up);
    },
    /** Space is held: a left drag pans */
    pressSpace() { spaceDown = true; },
    /** a press on the canvas: the widget takes the keyboard; the point pressed, or null
     * once the session is done or when the press started a pan @param {PointerEvent} e */
    press(e) {
      if (model.get("_done")) return null;
      root.focus({ preventScroll: true });
      e.preventDefault();
      const p = toImage(e);
      return startPan(e, p) ? null : p;
    },
    /** the pointer is up: end the pan there; true if there was one @param {PointerEvent} e */
    endPan(e) {
      if (!panTo(toImage(e))) return false;
      pan = null;
      if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
      return true;
    },
    /** the keymap's view actions; true when ``action`` was one of them @param {string | null} action */
    viewAction(action) {
      switch (action) {
        case "zoom_in": zoomAt(1.25, canvas.width / 2, canvas.height / 2); return true;
        case "zoom_out": zoomAt(0.8, canvas.width / 2, canvas.height / 2); return true;
        case "fit_view": fit(); return true;
        default: return false;
      }
    },
    /** show item ``it``: no image yet, the whole image in view, the canvas at display
     * size; false (and nothing changes) when it is the item shown @param {any} it */
    load(it) {
      if (it.key === shownKey) return false;
      shownKey = it.key;
      image = null; pan = null;
      view = { z: 1, ox: 0, oy: 0 };
      root.dataset.ready = "0";
      if (it.has_image) {
        canvas.width = it.display_width;
        canvas.height = it.display_height;
      }
      return true;
    },
    /** ask for the item's image (or take the copy pushed ahead) @param {any} it */
    request(it) { if (it.has_image) loader.request(it.key, it.alias); },
    /** @param {any} msg @param {DataView[]} buffers @returns {boolean} handled */
    handle(msg, buffers) { return loader.handle(msg, buffers); },
    stop() { loader.stop(); },
  };
}
