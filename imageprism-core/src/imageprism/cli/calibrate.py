"""``imageprism calibrate PAIRS.csv``: fit thresholds to labelled pairs (columns path_a,
path_b, same): per dimension and for the weighted score, at a target precision or recall or
the best F1 / balanced accuracy, with 95% Wilson intervals; optionally fits the weights and
saves the calibration under a name for ``dedup --calibration``.
"""

from __future__ import annotations

import argparse

from imageprism.cli._common import add_scoring_options, finish, make_prism, print_json, progress
from imageprism.io.names import display_name, display_text


def _share(text: str) -> float:
    """An argparse type: a number in (0, 1] (a precision or recall to reach)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``calibrate`` command to the subcommands ``sub``."""
    p = sub.add_parser(
        "calibrate", help="fit thresholds to labelled pairs (CSV: path_a, path_b, same)"
    )
    p.add_argument(
        "pairs", help="CSV with columns path_a, path_b, same (yes/no); paths relative to it"
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--target-precision", type=_share, help="reach this precision with the most recall"
    )
    target.add_argument(
        "--target-recall", type=_share, help="reach this recall with the most precision"
    )
    p.add_argument(
        "--objective",
        choices=["f1", "balanced_accuracy"],
        default="f1",
        help="without a target, what the threshold maximises (default f1)",
    )
    p.add_argument(
        "--fit-weights",
        action="store_true",
        help="also fit the weights of the weighted score (every split in steps of 0.1)",
    )
    p.add_argument("--save", metavar="NAME", help="save the calibration under NAME")
    add_scoring_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Calibrate on ``args.pairs`` and print the fitted thresholds; returns the exit code."""
    from imageprism.thresholds.calibrate import calibrate, calibration_path

    if args.save:
        calibration_path(args.save)  # a bad name fails before any embedding
    bar = progress(args, "embedding")
    result = calibrate(
        args.pairs,
        make_prism(args),
        target_precision=args.target_precision,
        target_recall=args.target_recall,
        objective=args.objective,
        fit_weights=args.fit_weights,
        profile=args.profile,
        progress=bar,
    )
    saved = result.save(args.save) if args.save else None
    if args.json:
        print_json({**result.to_dict(), "saved": None if saved is None else str(saved)})
        return finish(result.errors, [])
    rule = (
        f"target precision {result.target_precision:g}"
        if result.target_precision is not None
        else f"target recall {result.target_recall:g}"
        if result.target_recall is not None
        else f"best {result.objective.replace('_', ' ')}"
    )
    print(
        f"{len(result.same)} pairs: {result.positives} same, {result.negatives} different; "
        f"thresholds by {rule}; 95% Wilson intervals"
    )
    fits = {**result.dimensions, **({"weighted": result.weighted} if result.weighted else {})}
    width = max(len(name) for name in fits)
    print(
        f"{'':<{width}}  threshold  {'precision [95% CI]':<21}  {'recall [95% CI]':<21}  "
        "F1     unscored"
    )
    for name, fit in fits.items():
        precision = f"{fit.precision:.3f} [{fit.precision_ci[0]:.3f}, {fit.precision_ci[1]:.3f}]"
        recall = f"{fit.recall:.3f} [{fit.recall_ci[0]:.3f}, {fit.recall_ci[1]:.3f}]"
        missed = "" if fit.achieved else "  (target not reached)"
        print(
            f"{name:<{width}}  {fit.threshold:<9.4f}  {precision:<21}  {recall:<21}  "
            f"{fit.f1:.3f}  {fit.unscored}{missed}"
        )
    if result.weighted is not None:
        weights = ", ".join(f"{name} {weight:.2f}" for name, weight in result.weights.items())
        print(f"weights: {weights}" + (" (fitted)" if result.fitted_weights else ""))
    if saved is not None:
        print(f"saved as {display_text(args.save)}: {display_name(saved)}")
    return finish(result.errors, [])
