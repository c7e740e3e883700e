// A drawing pad, and the preprocessing MNIST's digits went through: the ink's bounding box scaled (aspect kept,
// area-averaged) into a 20x20 box, then placed in a 28x28 field so that its centre of mass is the field's centre.

export const SIDE = 28;
const BOX = 20;
const PAD_SIDE = 280;
const STROKE = 22; // px on the 280 px pad: about 2 px once a digit is scaled into the 20 px box, as MNIST's pens

function inkOf(context) {
  const { data } = context.getImageData(0, 0, PAD_SIDE, PAD_SIDE);
  const ink = new Float32Array(PAD_SIDE * PAD_SIDE);
  for (let i = 0; i < ink.length; i += 1) ink[i] = data[i * 4 + 3] / 255; // strokes are opaque on a clear pad
  return ink;
}

function boundingBox(ink, side) {
  let [x0, y0, x1, y1] = [side, side, -1, -1];
  for (let y = 0; y < side; y += 1) {
    for (let x = 0; x < side; x += 1) {
      if (ink[y * side + x] > 0) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  return x1 < 0 ? null : { x0, y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

// ink: side x side values in [0, 1]; returns 784 values in [0, 1] (row-major), or null for an empty pad.
export function toMnist(ink, side) {
  const box = boundingBox(ink, side);
  if (!box) return null;
  const scale = BOX / Math.max(box.width, box.height);
  const width = Math.max(1, Math.round(box.width * scale));
  const height = Math.max(1, Math.round(box.height * scale));
  const span = (t, size) => {
    const from = Math.min(size - 1, Math.floor(t / scale));
    return [from, Math.max(from + 1, Math.min(size, Math.floor((t + 1) / scale)))];
  };
  const small = new Float64Array(width * height); // each target pixel: the mean ink of the source pixels it covers
  for (let ty = 0; ty < height; ty += 1) {
    const [y0, y1] = span(ty, box.height);
    for (let tx = 0; tx < width; tx += 1) {
      const [x0, x1] = span(tx, box.width);
      let total = 0;
      for (let y = y0; y < y1; y += 1) for (let x = x0; x < x1; x += 1) total += ink[(box.y0 + y) * side + box.x0 + x];
      small[ty * width + tx] = total / ((y1 - y0) * (x1 - x0));
    }
  }
  let [mass, mx, my] = [0, 0, 0];
  small.forEach((value, i) => {
    mass += value;
    mx += value * ((i % width) + 0.5);
    my += value * (Math.floor(i / width) + 0.5);
  });
  const clamp = (v, size) => Math.max(0, Math.min(SIDE - size, v));
  const left = clamp(Math.round(SIDE / 2 - mx / mass), width);
  const top = clamp(Math.round(SIDE / 2 - my / mass), height);
  const image = new Array(SIDE * SIDE).fill(0);
  small.forEach((value, i) => {
    image[(top + Math.floor(i / width)) * SIDE + left + (i % width)] = value;
  });
  return image;
}

// A canvas to draw on with a mouse, a pen or a finger; onStroke(image) after each stroke.
export function drawingPad(onStroke) {
  const canvas = document.createElement("canvas");
  canvas.width = PAD_SIDE;
  canvas.height = PAD_SIDE;
  canvas.className = "pad";
  canvas.setAttribute("aria-label", "Drawing pad: draw one digit with the mouse, a pen or a finger");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  Object.assign(context, { lineWidth: STROKE, lineCap: "round", lineJoin: "round", strokeStyle: "#fff" });
  let drawing = false;
  const point = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [((event.clientX - rect.left) * PAD_SIDE) / rect.width, ((event.clientY - rect.top) * PAD_SIDE) / rect.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    context.beginPath();
    context.moveTo(...point(event));
    context.lineTo(...point(event));
    context.stroke();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onStroke(toMnist(inkOf(context), PAD_SIDE));
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return { canvas, clear: () => context.clearRect(0, 0, PAD_SIDE, PAD_SIDE) };
}

// A 28x28 image drawn small, white on black as MNIST shows it.
export function preview(image, scale = 3, label = "The 28x28 image sent") {
  const canvas = document.createElement("canvas");
  canvas.width = SIDE;
  canvas.height = SIDE;
  canvas.className = "preview";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", label);
  canvas.style.width = `${SIDE * scale}px`;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(SIDE, SIDE);
  (image || []).forEach((value, i) => {
    const level = Math.round(value * 255);
    pixels.data.set([level, level, level, 255], i * 4);
  });
  if (!image) for (let i = 3; i < pixels.data.length; i += 4) pixels.data[i] = 255;
  context.putImageData(pixels, 0, 0);
  return canvas;
}
