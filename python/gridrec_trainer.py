"""Speak gridrec's trainer protocol (version 1) from a Python trainer, with the standard library only.

`grid run` starts an external trainer as a child process and talks to it through two things: the
trial file named by the GRID_TRIAL environment variable (the config to train, the device, a work
directory) and file descriptor 3, where the trainer writes one JSON event per line (hello, progress,
heartbeat, epoch, result, error). docs/protocol.md in the gridrec package describes the protocol in
full; this module implements the trainer's side of it, so a training script only trains:

    import gridrec_trainer as gt

    def train(trial, events):
        model = build(trial.config)                       # raise gt.InvalidConfig("model.hidden: ...") for bad values
        events.hello("my-sasrec", version="1.0", backend="cuda", device_name="H100")
        for epoch in range(1, trial.config["train"]["epochs"] + 1):
            loss = train_one_epoch(model, lambda step, steps: events.progress(epoch, step, steps))
            events.epoch(epoch, train_loss=loss, metrics=validate(model), epoch_seconds=..., peak_bytes=...)
        return gt.Result(best_epoch=..., test=test(model), validation=...)

    if __name__ == "__main__":
        gt.run(train, trainer="my-sasrec")

What `run` does for the trainer: reads the trial file, opens the event stream, sends a heartbeat from
a background thread whenever nothing else was sent for the interval gridrec asks for (so a long
epoch is not mistaken for a hang), turns exceptions into `error` events of the right kind
(InvalidConfig -> invalid_config, DataProblem -> data, out of memory -> oom, anything else ->
internal), sends the result, and exits 0 only after it. When a write to fd 3 fails (gridrec is gone)
the process exits at once: nothing it computes could be recorded, and `grid resume` runs the trial
again.

Copy this single file next to your trainer, or put the package's python/ folder on PYTHONPATH
(`PYTHONPATH=$(npm root)/gridrec/python`).
"""
import json
import math
import os
import sys
import threading
import time
import traceback

PROTOCOL_VERSION = 1
"""The protocol version this module speaks."""

TRIAL_ENV = "GRID_TRIAL"
"""Environment variable holding the path of the trial file."""

EVENTS_FD_ENV = "GRID_EVENTS_FD"
"""Environment variable holding the events file descriptor (always 3)."""

DEFAULT_HEARTBEAT_INTERVAL_S = 10.0
"""Heartbeat interval when the trial file names none."""

PROGRESS_INTERVAL_S = 1.0
"""Progress events are sent at most this often (more would only cost the orchestrator)."""

ERROR_KINDS = ("oom", "invalid_config", "data", "internal")
"""Error kinds: oom ends the trial `oom` (not retried with the same memory); the others `failed`."""


class InvalidConfig(Exception):
    """The trial's config cannot be trained (a bad or unsupported value): error kind invalid_config."""


class DataProblem(Exception):
    """The data set is missing or malformed: error kind data."""


class OutOfMemory(Exception):
    """The trial does not fit the device's memory: error kind oom."""


class Trial:
    """What gridrec hands the trainer: the contents of the trial file.

    Attributes: trial_id (sha256 hex), attempt (1-based; 0 for a memory probe, which gridrec stops
    once the trainer has said hello), config (the trial's config, a dict), device (dict with
    backend "cuda" or "cpu" and ordinal, the device as the trainer sees it), workdir (a directory
    the trainer may write to, kept across attempts: checkpoints), heartbeat_interval_s, objective
    (dict with metric and direction, what the sweep ranks by; None when absent), raw (the whole file).
    """

    def __init__(self, raw):
        if raw.get("protocol") != PROTOCOL_VERSION:
            raise InvalidConfig("trial file: protocol %r, this module speaks %d" % (raw.get("protocol"), PROTOCOL_VERSION))
        self.raw = raw
        self.trial_id = raw["trial_id"]
        self.attempt = raw["attempt"]
        self.config = raw["config"]
        self.device = raw["device"]
        self.workdir = raw["workdir"]
        self.heartbeat_interval_s = float(raw.get("heartbeat_interval_s") or DEFAULT_HEARTBEAT_INTERVAL_S)
        self.objective = raw.get("objective")

    @property
    def probe(self):
        """True in a memory probe (`grid plan --memory`): say hello with planned_peak_bytes, nothing more is wanted."""
        return self.attempt == 0

    @classmethod
    def from_environment(cls):
        """Reads the trial file that GRID_TRIAL names."""
        path = os.environ.get(TRIAL_ENV)
        if not path:
            raise RuntimeError("%s is not set: this trainer is started by `grid run`" % TRIAL_ENV)
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))


class Result:
    """A trial's result: the epoch it selected, the test metrics at that epoch and its validation metrics.

    peak_bytes: peak allocated device bytes over the trial (torch.cuda.max_memory_allocated);
    mean_epoch_seconds and total_seconds are optional (0 when unknown).
    """

    def __init__(self, best_epoch, test, validation, peak_bytes=0, mean_epoch_seconds=0.0, total_seconds=0.0):
        self.best_epoch = best_epoch
        self.test = test
        self.validation = validation
        self.peak_bytes = peak_bytes
        self.mean_epoch_seconds = mean_epoch_seconds
        self.total_seconds = total_seconds


def _number(value):
    """A float for JSON: NaN and infinities become null (JSON has no NaN; gridrec reads null as NaN)."""
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _count(name, value, minimum):
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, minimum, value))
    return int(value)


def _metrics(name, metrics):
    out = {}
    for key, value in dict(metrics).items():
        key = str(key)
        if not key or '"' in key or "\\" in key or any(ord(c) < 32 for c in key):
            raise ValueError("%s: metric name %r must be printable, without \" or \\" % (name, key))
        out[key] = _number(value)
    return out


class Events:
    """The event stream to gridrec: one JSON object per line on fd 3, thread-safe.

    A background thread sends a heartbeat whenever no event went out for `heartbeat_interval_s`
    (start it with `start_heartbeats`, or let `run` do it). If writing fails because gridrec is gone,
    the process exits at once with status 1.
    """

    def __init__(self, fd=None, heartbeat_interval_s=DEFAULT_HEARTBEAT_INTERVAL_S):
        self._fd = int(os.environ.get(EVENTS_FD_ENV, "3")) if fd is None else fd
        self._interval = float(heartbeat_interval_s)
        self._lock = threading.Lock()
        self._last_sent = time.monotonic()
        self._last_progress = 0.0
        self._said_hello = False
        self._stop = threading.Event()
        self._thread = None

    # -- the events --------------------------------------------------------------------------
    def hello(self, trainer, version="", backend="cpu", device_name="", planned_peak_bytes=None):
        """The first event: who is training, on what, and (where known) the peak bytes it plans to allocate."""
        if backend not in ("cuda", "cpu"):
            raise ValueError('backend must be "cuda" or "cpu", got %r' % (backend,))
        event = {"type": "hello", "protocol": PROTOCOL_VERSION, "trainer": str(trainer), "version": str(version),
                 "backend": backend, "device_name": str(device_name)}
        if planned_peak_bytes is not None:
            event["planned_peak_bytes"] = _count("planned_peak_bytes", planned_peak_bytes, 0)
        self._said_hello = True
        self.send(event)

    def progress(self, epoch, step, steps):
        """Where training is within an epoch; sent at most once a second, so call it every step."""
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S:
            return
        self._last_progress = now
        self.send({"type": "progress", "epoch": _count("epoch", epoch, 0), "step": _count("step", step, 0),
                   "steps": _count("steps", steps, 0)})

    def epoch(self, epoch, train_loss, metrics, epoch_seconds, peak_bytes, tokens_per_second=0.0):
        """One finished epoch (1-based) with its validation metrics, e.g. {"ndcg@10": 0.05, "hr@10": 0.1}."""
        self.send({"type": "epoch", "epoch": _count("epoch", epoch, 1), "train_loss": _number(train_loss),
                   "metrics": _metrics("metrics", metrics), "epoch_seconds": max(0.0, float(epoch_seconds)),
                   "peak_bytes": _count("peak_bytes", peak_bytes, 0), "tokens_per_second": max(0.0, float(tokens_per_second))})

    def result(self, result):
        """The trial's result (a `Result`); the trainer exits 0 after it (`run` does)."""
        self.send({"type": "result", "best_epoch": _count("best_epoch", result.best_epoch, 0),
                   "test": _metrics("test", result.test), "validation": _metrics("validation", result.validation),
                   "peak_bytes": _count("peak_bytes", result.peak_bytes, 0),
                   "mean_epoch_seconds": max(0.0, float(result.mean_epoch_seconds)),
                   "total_seconds": max(0.0, float(result.total_seconds))})

    def error(self, kind, message):
        """Why the trial cannot complete; kind is one of ERROR_KINDS. The trainer then exits non-zero."""
        if kind not in ERROR_KINDS:
            raise ValueError("kind must be one of %s, got %r" % (", ".join(ERROR_KINDS), kind))
        self.send({"type": "error", "kind": kind, "message": str(message)[:10000]})

    # -- the stream ----------------------------------------------------------------------------
    def send(self, event):
        """Writes one event; a trainer that sends anything before its hello gets a plain hello first."""
        if not self._said_hello and event.get("type") not in ("hello", "heartbeat", "error"):
            self.hello("python-trainer")
        data = (json.dumps(event, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError:
                # EPIPE (or a closed descriptor): gridrec is gone and nothing can be recorded any more.
                os._exit(1)
            self._last_sent = time.monotonic()

    @property
    def said_hello(self):
        """Whether the hello went out."""
        return self._said_hello

    def start_heartbeats(self):
        """Starts the heartbeat thread (a daemon: it never keeps the process alive)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._beat, name="gridrec-heartbeat", daemon=True)
        self._thread.start()

    def stop_heartbeats(self):
        self._stop.set()

    def _beat(self):
        # Wake several times per interval so a heartbeat is never much later than due.
        tick = max(0.05, min(1.0, self._interval / 4))
        while not self._stop.wait(tick):
            if time.monotonic() - self._last_sent >= self._interval:
                self.send({"type": "heartbeat"})


def error_kind(exc):
    """The protocol's error kind of an exception (PyTorch's OutOfMemoryError and MemoryError are oom)."""
    if isinstance(exc, InvalidConfig):
        return "invalid_config"
    if isinstance(exc, DataProblem):
        return "data"
    if isinstance(exc, (OutOfMemory, MemoryError)) or type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return "oom"
    return "internal"


def run(train, trainer="python-trainer", version=""):
    """Runs one trial: `train(trial, events)` trains and returns a `Result`. Never returns.

    Exit status 0 after the result; 1 after an error event (the traceback goes to stderr, which
    gridrec keeps in the attempt's log); 2 when the process was not started by gridrec.
    """
    try:
        trial = Trial.from_environment()
    except RuntimeError as exc:
        print("gridrec_trainer: %s" % exc, file=sys.stderr)
        sys.exit(2)
    events = Events(heartbeat_interval_s=trial.heartbeat_interval_s)
    events.start_heartbeats()
    try:
        result = train(trial, events)
        if not events.said_hello:
            events.hello(trainer, version=version, backend=trial.device.get("backend", "cpu"))
        if trial.probe:
            # Only the hello was wanted; gridrec stops the probe itself, this is for trainers that return.
            sys.stdout.flush()
            os._exit(0)
        if not isinstance(result, Result):
            raise TypeError("train() must return a gridrec_trainer.Result, got %r" % (type(result).__name__,))
        events.result(result)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is reported before exiting
        traceback.print_exc()
        sys.stderr.flush()
        events.error(error_kind(exc), "%s: %s" % (type(exc).__name__, exc))
        events.stop_heartbeats()
        os._exit(1)
    events.stop_heartbeats()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
