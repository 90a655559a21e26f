"""ExFractalDB contact sheet: ``sweep``'s renders next to the reference pipeline's, class by class.
One PNG and one JSON line on stdout.

    python benchmarks/exfractaldb_contact.py [--classes 8] [--instances 2] [--size 224]
        [--seed 0] [--numbers own|same] [-o out/exfractaldb_contact.png]

Rows are classes, columns are ``--instances`` images of ours (the ``exfractaldb`` generator at
its published configuration), then the same instances drawn by the reference pipeline of
``benchmarks/exfractaldb_faithfulness.py`` (a re-statement of the official
``exfractaldb_render``: its per-point Python chaos game, ``min_max``, ``centoroid``, the
``weights_ins145.csv`` table, glm-style float32 camera matrices and the OpenGL clip test), which
this script imports, not copies.

Same class parameters: the reference's category search is fed the generator's keyed class stream
(``KeyedStream``), so it accepts the same IFS (checked: ``same_ifs``). Each instance has the same
weight variant and viewpoint index in both columns. What differs is ``--numbers``:

* ``own`` (default): the reference draws its chaos game (``point_num`` uniforms from a numpy
  ``RandomState``) and its view jitter (Python ``random.uniform(-pi, pi)`` degrees) itself, as
  the official scripts do: an independent render of the same fractal seen from about the same
  side, so the sheet shows whether the two pipelines draw alike, not whether they share bits.
* ``same``: the reference is fed our chaos uniforms and our view angle; the images should then
  match pixel for pixel (float64 ours, float32 matrices the reference's).

Either way each image's ``px_diff_same_numbers`` (pixels that differ between ours and the
reference fed the same numbers) is measured. Both pipelines store rows bottom-up, as
``glReadPixels`` does, so +y points down in both. A reference cloud that diverges is not drawn by
the official code (no model): its cell stays grey.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the reference pipeline, by import

import exfractaldb_faithfulness as ref

from sweep.generators import _hashrng as hr
from sweep.generators import get_generator
from sweep.generators.exfractaldb import exfractal_index
from sweep.seeding import Seeds

GAP = 4  # px between cells
GROUP_GAP = 16  # px between ours and the reference
HEAD = 28  # px of the column headers
LABEL = 18  # px of each row's label strip
BG, EMPTY = 96, 48  # grey of the sheet's background and of an image the reference did not draw


def ink(img: np.ndarray) -> float:
    return round(float((img > 0).mean()), 5)


def jitter_deg(g, seeds: Seeds, c: int, inst: int) -> float:
    """Our view jitter of an instance in degrees (``ExFractalDB.cameras``: azimuth - 30)."""
    az = hr.uniform_float(hr.u32(seeds.key32("azimuth", c), np.int64(inst)), *g.params["azimuth"])
    return float(az) - 30.0


def reference_image(params, table, v: int, k: int, u, jit: float, size: int):
    """The reference's image of weight variant ``v`` from view ``k`` with chaos uniforms ``u``
    (``point_num`` of them, the last unused) and view jitter ``jit`` degrees; None when its
    cloud diverges (the official writes no model)."""
    cloud = ref.ref_cloud(params, u, weight=table[v])
    if np.isnan(cloud).any(axis=1)[1]:
        return None
    return ref.ref_render(cloud, ref.ref_view_matrix(k, jit), size=size)


def sheet(
    rows: list[list[np.ndarray | None]], labels: list[str], n: int, px: int, heads: tuple[str, str]
) -> np.ndarray:
    """The contact sheet: rows of ``2 n`` images (ours, then the reference), labelled."""
    import cv2

    group = n * px + (n - 1) * GAP
    width = 2 * group + GROUP_GAP + 2 * GAP
    height = HEAD + len(rows) * (LABEL + px + GAP)
    out = np.full((height, width), BG, dtype=np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for g, text in enumerate(heads):
        x = GAP + g * (group + GROUP_GAP)
        cv2.putText(out, text, (x, HEAD - 9), font, 0.5, 255, 1, cv2.LINE_AA)
    for r, (images, label) in enumerate(zip(rows, labels, strict=True)):
        y = HEAD + r * (LABEL + px + GAP)
        cv2.putText(out, label, (GAP, y + LABEL - 5), font, 0.4, 230, 1, cv2.LINE_AA)
        for j, img in enumerate(images):
            g, i = divmod(j, n)
            x = GAP + g * (group + GROUP_GAP) + i * (px + GAP)
            cell = np.full((px, px), EMPTY, np.uint8) if img is None else img
            out[y + LABEL : y + LABEL + px, x : x + px] = cell
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=8, help="classes (rows)")
    ap.add_argument("--instances", type=int, default=2, help="instances per class and side")
    ap.add_argument("--size", type=int, default=ref.IMG, help="image size in px (published 224)")
    ap.add_argument("--seed", type=int, default=0, help="dataset seed (ours; the class streams)")
    ap.add_argument(
        "--numbers",
        choices=("own", "same"),
        default="own",
        help="the reference's chaos game and view jitter: own or ours",
    )
    ap.add_argument("-o", "--out", default="out/exfractaldb_contact.png", help="the PNG")
    args = ap.parse_args()
    import cv2

    t0 = time.perf_counter()
    g = get_generator("exfractaldb", image_size=args.size)
    seeds = Seeds(args.seed)
    table = ref.ref_weight_table()
    n_inst = len(g.variants) * g.params["views"]
    own = ref.OfficialRandom(args.seed)
    pyr = random.Random(args.seed)
    rows, labels, images, classes = [], [], [], []
    same_ifs = 0
    for c in range(args.classes):
        cls = g.sample_class(seeds, c, {})
        params, tries = ref.ref_search_one(ref.KeyedStream(seeds.rng("class", c)))
        same = tries == cls["attempts"] and np.array_equal(params[:, :12], cls["maps"])
        same_ifs += bool(same and np.array_equal(params[:, 12], cls["probs"]))
        picks = np.sort(
            np.random.default_rng([args.seed, c]).choice(n_inst, args.instances, replace=False)
        )
        ours = list(g.render(cls, seeds, c, picks))
        theirs: list[np.ndarray | None] = []
        for inst, mine in zip(picks.tolist(), ours, strict=True):
            v, k, r = (int(a[0]) for a in exfractal_index([inst], len(g.variants), ref.VIEWS))
            u_ours = np.append(g.chaos_uniforms(seeds, c, v, r), 0.0)
            jit = jitter_deg(g, seeds, c, inst)
            twin = reference_image(params, table, v, k, u_ours, jit, args.size)
            if args.numbers == "same":
                img = twin
            else:
                img = reference_image(
                    params,
                    table,
                    v,
                    k,
                    own.random(ref.POINT_NUM),
                    pyr.uniform(-math.pi, math.pi),
                    args.size,
                )
            theirs.append(img)
            images.append(
                {
                    "class": c,
                    "instance": inst,
                    "variant": v,
                    "view": k,
                    "ink_ours": ink(mine),
                    "ink_ref": None if img is None else ink(img),
                    "px_diff_same_numbers": None if twin is None else int((mine != twin).sum()),
                }
            )
        classes.append({"class": c, "maps": cls["n_maps"], "candidates": cls["attempts"]})
        rows.append([*ours, *theirs])
        shown = ", ".join(f"{i} (variant {i % len(g.variants)})" for i in picks)
        labels.append(f"class {c}: {cls['n_maps']} maps; instances {shown}")
    heads = (
        f"ours: sweep exfractaldb v{g.version}",
        f"reference ({'own RNG' if args.numbers == 'own' else 'our numbers'})",
    )
    img = sheet(rows, labels, args.instances, args.size, heads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), img):
        raise SystemExit(f"cannot write {out}")
    ours_ink = [i["ink_ours"] for i in images]
    ref_ink = [i["ink_ref"] for i in images if i["ink_ref"] is not None]
    print(
        json.dumps(
            {
                "classes": args.classes,
                "instances": args.instances,
                "px": args.size,
                "seed": args.seed,
                "numbers": args.numbers,
                "path": str(out),
                "sheet_px": [int(img.shape[1]), int(img.shape[0])],
                "same_ifs": f"{same_ifs}/{args.classes}",
                "per_class": classes,
                "ink_mean": {
                    "ours": round(float(np.mean(ours_ink)), 5),
                    "ref": round(float(np.mean(ref_ink)), 5) if ref_ink else None,
                },
                "ref_not_drawn": sum(i["ink_ref"] is None for i in images),
                "images": images,
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
