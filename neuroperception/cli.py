"""``neuroperception <command>``: a thin command line over the library.

Commands
--------
``demo --out DIR``
    Run the demo on the embedded default and write ``DIR/index.html``.
``features --model SPEC --images DIR --layers L [L ...] --out STORE``
    Extract features of a folder of images into a zarr store (resumable).
``layers --model SPEC``
    List a model's hookable layers.
``encode CONFIG.toml``
    Run the pipeline of a config: images -> features -> per-subject encoding fit -> scores and
    brain maps (resumable; see the user guide's pipeline page).
"""

from __future__ import annotations

import argparse
import sys

from .errors import NeuroperceptionError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="neuroperception", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run the demo and write an HTML report")
    d.add_argument("--out", default="demo-report", help="output folder (default: demo-report)")
    d.add_argument("--quick", action="store_true", help="fewer, smaller images")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")
    f = sub.add_parser("features", help="extract features of an image folder into a zarr store")
    f.add_argument("--model", required=True, help="spec, e.g. gabor, torchvision:alexnet, open_clip:ViT-B-32")
    f.add_argument("--weights", default=None, help="state-dict path or tag such as DEFAULT (default: random init)")
    f.add_argument("--images", required=True, help="folder of images (png/jpg/webp), searched recursively")
    f.add_argument("--size", type=int, default=None, help="resize and centre-crop images to this size")
    f.add_argument("--layers", nargs="+", required=True, help="layer names (see `neuroperception layers`)")
    f.add_argument("--pooling", default="avg", help="avg, max, avg:K, srp:D, pca:K or none (default: avg)")
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--device", default="cpu")
    f.add_argument("--out", required=True, help="zarr store to write (resumed if it exists)")
    f.add_argument("--no-progress", action="store_true")
    la = sub.add_parser("layers", help="list a model's layer names")
    la.add_argument("--model", required=True)
    e = sub.add_parser("encode", help="run images -> features -> encoding fits -> scores from a TOML config")
    e.add_argument("config", help="the TOML config (see docs/pipeline.md)")
    e.add_argument("--no-progress", action="store_true", help="hide progress bars and stage headers")
    return p


def main(argv=None) -> int:
    """Entry point of the ``neuroperception`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            path = run_demo(args.out, quick=args.quick, progress=False if args.no_progress else None)
            print(f"report written to {path}")
        elif args.command == "features":
            from .features import extract, load_model
            from .stimuli import ImageSet

            model = load_model(args.model, weights=args.weights, device=args.device)
            images = ImageSet.from_folder(args.images, size=args.size)
            feats = extract(model, images, args.layers, pooling=args.pooling, batch_size=args.batch_size,
                            store=args.out, progress=False if args.no_progress else None)
            for layer, da in feats.items():
                print(f"{layer}: {dict(da.sizes)}")
            print(f"features written to {args.out}")
        elif args.command == "layers":
            from .features import layer_names, load_model

            print("\n".join(layer_names(load_model(args.model))))
        elif args.command == "encode":
            from .pipeline import run_pipeline

            result = run_pipeline(args.config, progress=False if args.no_progress else None)
            done = f" ({len(result.skipped)} read back)" if result.skipped else ""
            print(f"{len(result.results)} subject(s){done}; scores written to {result.out / 'scores.csv'}")
    except NeuroperceptionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
