"""The live web view of `edgesign run --web [HOST:]PORT`: the camera as MJPEG with the region of
interest (and the hand, where the prediction has one), top-3 bars, the smoothed letter, the text
with a clear button, frames per second, per-stage latency and the bundle's facts.

Standard library only (http.server), so the device install gains no dependency. It never slows
recognition: the run loop only hands over references (`observe`, O(1), no copy, no encoding); a
thread of its own encodes the newest frame at a capped rate, and only while someone watches; each
viewer's thread sends the newest JPEG when it can, so a slow or stalled browser skips frames (and
a stalled one is dropped after `send_timeout`) without holding anyone else up.

The page is read-only apart from clearing the text, which is done on the run loop's thread.
No request reaches the filesystem: the page is read from package data once, at start-up. The HTTP
server and its limits (connections, deadlines, Host check) are in `handler.py`.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import Counter, deque
from importlib import resources

import numpy as np
from PIL import Image, ImageDraw

from edgesign.core.errors import EdgesignError
from edgesign.core.frames import frame_image, frame_size
from edgesign.core.preprocess import region_box
from edgesign.device.web.handler import Server, make_handler, own_host_names, redact

log = logging.getLogger(__name__)

PAGE_FILE = "page.html"
#: how long a viewer's request keeps the encoder busy after it last asked for a frame
WANTED_S = 2.0
#: frames over which fps and the stage latencies are averaged
WINDOW = 30


def bundle_facts(bundle, backend: str = "", source: str = "") -> dict:
    """What the facts panel shows: preset, int8 accuracies from the metadata, model size."""
    meta = bundle.metadata
    model = meta.get("model", {})
    accuracy = meta.get("accuracy", {})
    int8 = {}
    test_set = f"test set ({accuracy.get('test_images', '?')} images)"
    fused = (meta.get("fusion") or {}).get("accuracy") or {}
    if isinstance(fused.get("fusion_int8"), (int, float)):
        # what the device reads: hand, CNN and landmarks fused (the CNN alone is shown after it)
        int8[test_set] = fused["fusion_int8"]
        test_set = "test set, CNN alone"
    if accuracy.get("tflite_int8") is not None:
        int8[test_set] = accuracy["tflite_int8"]
    for key, value in accuracy.items():
        if key.endswith("_int8") and key != "tflite_int8" and value is not None:
            int8[key[: -len("_int8")]] = value
    try:
        size = bundle.model_path.stat().st_size
    except OSError:
        size = model.get("bytes")
    spec = bundle.spec
    return {
        "preset": model.get("preset", "?"),
        "parameters": model.get("parameters"),
        "model_bytes": size,
        "classes": len(bundle.classes),
        "int8_accuracy": int8,
        "input": f"{spec.size}x{spec.size} gray",
        "roi": spec.roi,
        "views": len(spec.view_boxes),
        "interpreter": backend,
        "source": source,
        "created": meta.get("created"),
    }


def render_jpeg(frame, spec, hand=None, max_width: int = 640, quality: int = 75) -> bytes:
    """The frame as a JPEG for the browser, with the region of interest and the hand drawn on it."""
    picture = frame_image(frame).convert("RGB")
    height, width = frame_size(frame.array, frame.layout, frame.width)
    if picture.width > max_width:
        picture = picture.resize(
            (max_width, max(1, round(picture.height * max_width / picture.width))), Image.BILINEAR
        )
    sx, sy = picture.width / width, picture.height / height
    draw = ImageDraw.Draw(picture)
    line = max(2, picture.width // 200)
    left, top, right, bottom = region_box(frame.array, frame.layout, spec, frame.width)
    draw.rectangle(
        [left * sx, top * sy, right * sx - 1, bottom * sy - 1], outline=(0, 230, 118), width=line
    )
    if hand is not None:  # the tracker's Hand: box and landmarks in frame pixels
        box = [float(v) for v in hand.box]
        draw.rectangle(
            [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy], outline=(255, 179, 0), width=line
        )
        r = line + 1
        for x, y in np.asarray(hand.landmarks, np.float64)[:, :2]:
            draw.ellipse([x * sx - r, y * sy - r, x * sx + r, y * sy + r], fill=(255, 64, 129))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()


class WebView:
    """The live view: an observer of `runtime.run_loop` plus the HTTP server and the encoder."""

    def __init__(
        self,
        bundle,
        recognizer,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        token: str | None = None,
        max_fps: float = 10.0,
        max_viewers: int = 8,
        streams_per_client: int = 2,
        max_connections: int = 32,
        connections_per_client: int = 12,
        request_timeout: float = 10.0,
        send_timeout: float = 10.0,
        max_width: int = 640,
        backend: str = "",
        source: str = "",
        profile: str = "",
    ):
        if not 0 < max_fps < float("inf"):
            raise EdgesignError("--web-fps must be a number above 0")
        if token is not None and not token.strip():
            raise EdgesignError("--web-token is empty: give a token, or leave it out for no token")
        self.spec = bundle.spec
        self.recognizer = recognizer
        self.token = token
        self.host_names = own_host_names([host])
        self.min_interval = 1.0 / max_fps
        self.max_viewers = max_viewers
        self.streams_per_client = streams_per_client
        self.send_timeout = send_timeout
        self.max_width = max_width
        self.facts = bundle_facts(bundle, backend, source)
        self.facts["profile"] = profile or None
        #: while `edgesign enroll --web` runs: the letter to sign, the countdown, samples taken
        self.enrollment: dict | None = None
        self.page = resources.files(__package__).joinpath(PAGE_FILE).read_bytes()
        self.encoded = 0  # JPEGs made, for tests and the state
        self._latest = None  # (seq, frame, pred, step, age, dropped, time)
        self._seq = 0
        self._times: deque = deque(maxlen=WINDOW)
        self._stages: deque = deque(maxlen=WINDOW)
        self._clear = threading.Event()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._wanted_until = 0.0
        self._viewers = 0
        self._client_streams: Counter = Counter()
        self._viewers_lock = threading.Lock()
        try:
            self.server = Server(
                (host, port),
                make_handler(self),
                max_connections=max_connections,
                per_client=connections_per_client,
                request_timeout=request_timeout,
            )
        except OSError as exc:
            raise EdgesignError(
                f"--web {host}:{port}: cannot listen there ({exc.strerror or exc})"
            ) from None
        self.host, self.port = self.server.server_address[:2]
        self._threads = [
            threading.Thread(
                target=self.server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="edgesign-web",
                daemon=True,
            ),
            threading.Thread(target=self._encode_loop, name="edgesign-web-encoder", daemon=True),
        ]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def log_url(self) -> str:
        """`url` as it may be logged: logs outlive the session (journald), the token must not."""
        return redact(self.url)

    def start(self) -> WebView:
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(2.0)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # --- the run loop's side: references only, never waits ---
    def observe(self, frame, pred, step, age_s: float, dropped: int) -> None:
        if self._clear.is_set():
            self._clear.clear()
            self.recognizer.clear()
        now = time.monotonic()
        self._times.append(now)
        # the hand tracker, landmark classifier, profile and fusion count in the total too
        hand_s = sum(getattr(pred, "stages_s", {}).values())
        self._stages.append((pred.preprocess_s, pred.invoke_s, pred.post_s, hand_s))
        self._seq += 1
        self._latest = (self._seq, frame, pred, step, age_s, dropped, now)
        if now < self._wanted_until:
            with self._cond:
                self._cond.notify_all()

    # --- the encoder thread ---
    def _encode_loop(self) -> None:
        last_time = 0.0
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(
                    lambda: (
                        self._stop.is_set()
                        or (
                            self._latest is not None
                            and self._latest[0] != self._jpeg_seq
                            and time.monotonic() < self._wanted_until
                        )
                    ),
                    timeout=0.5,
                )
            if self._stop.is_set():
                return
            latest = self._latest
            if (
                latest is None
                or latest[0] == self._jpeg_seq
                or time.monotonic() >= self._wanted_until
            ):
                continue
            pause = last_time + self.min_interval - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)
                latest = self._latest  # the newest, after the pause
            last_time = time.monotonic()
            seq, frame, pred = latest[:3]
            try:
                jpeg = render_jpeg(frame, self.spec, getattr(pred, "hand", None), self.max_width)
            except Exception as exc:  # a frame we cannot draw must not end the view
                log.debug("web view: cannot encode frame %s: %s", seq, exc)
                jpeg = None
            with self._cond:
                if jpeg is not None:
                    self._jpeg = jpeg
                    self.encoded += 1
                self._jpeg_seq = seq
                self._cond.notify_all()

    def want(self) -> None:
        """A viewer asks for frames: keep the encoder running a little longer."""
        self._wanted_until = time.monotonic() + WANTED_S
        with self._cond:
            self._cond.notify_all()

    def next_jpeg(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The newest JPEG newer than `after` (waiting up to `timeout`), and its frame number."""
        self.want()
        with self._cond:
            self._cond.wait_for(
                lambda: self._stop.is_set() or (self._jpeg is not None and self._jpeg_seq != after),
                timeout,
            )
            if self._jpeg is None or self._jpeg_seq == after:
                return None, after
            return self._jpeg, self._jpeg_seq

    def enter_viewer(self, client: str = "") -> str | None:
        """Count a new stream from `client`; why it is refused, or None."""
        with self._viewers_lock:
            if self._client_streams[client] >= self.streams_per_client:
                # one client holding every stream would shut all other viewers out
                return "too many streams from your address"
            if self._viewers >= self.max_viewers:
                return "too many viewers"
            self._viewers += 1
            self._client_streams[client] += 1
            return None

    def leave_viewer(self, client: str = "") -> None:
        with self._viewers_lock:
            self._viewers -= 1
            self._client_streams[client] -= 1
            if self._client_streams[client] <= 0:
                del self._client_streams[client]

    def request_clear(self) -> None:
        self._clear.set()

    def state(self) -> dict:
        """What the page shows besides the picture, as of the newest frame."""
        latest = self._latest
        times, stages = list(self._times), list(self._stages)
        fps = (
            (len(times) - 1) / (times[-1] - times[0])
            if len(times) > 1 and times[-1] > times[0]
            else 0.0
        )
        out = {
            "frame": 0,
            "fps": round(fps, 2),
            "viewers": self._viewers,
            "encoded": self.encoded,
            "top": [],
            "smoothed": None,
            "text": "",
            "latency_ms": None,
        }
        enrollment = self.enrollment
        if enrollment is not None:
            out["enroll"] = dict(enrollment)
        if latest is None:
            return out
        seq, frame, pred, step, age, dropped, _ = latest
        mean = np.mean(stages, axis=0) * 1000.0 if stages else np.zeros(4)
        out.update(
            {
                "frame": seq,
                "source": frame.name,
                "dropped": dropped,
                "top": [{"label": str(label), "p": round(float(p), 4)} for label, p in pred.top],
                "smoothed": None
                if step.label is None
                else {"label": str(step.label), "p": round(float(step.confidence), 4)},
                "text": "" if self._clear.is_set() else step.text,
                "latency_ms": {
                    "preprocess": round(float(mean[0]), 3),
                    "invoke": round(float(mean[1]), 3),
                    "post": round(float(mean[2]), 3),
                    "hand": round(float(mean[3]), 3),
                    "total": round(float(mean.sum()), 3),
                    "frame_age": round(age * 1000.0, 1),
                },
                "hand": getattr(pred, "hand", None) is not None,
            }
        )
        return out
