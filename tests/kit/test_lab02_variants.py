"""Proof that the Lab 2 hidden tests judge well.

Each wrong-but-plausible variant of the solution must lose points on exactly the questions it
breaks (a question that builds on a broken one, such as the training loop on top of a wrong
pos_weight or a wrong evaluation, counts as broken), and each correct alternative must keep full
marks.
"""

import pytest
from variants import Variant, variant_tests, variants_under_salts

pytestmark = pytest.mark.slow
LAB = "lab02_onset_detection"
IMPULSE = "1.1 Impulse responses"
FINITE = "1.2 Finite or infinite response"
FIR_IIR = "1.3 FIR or IIR"
POS_WEIGHT = "2.1 The positive-class weight"
WEIGHTED_LOSS = "2.2 The weighted loss"
EVALUATION = "3.1 Evaluating a model on a dataset"
TRAINING = "3.2 The training loop"
QUALITY = "3.3 Onset detection quality"

WEIGHT_FORMULA = "    pos_weight = (1.0 - pos_frac) / max(pos_frac, eps)"
POS_FRAC = "    pos_frac = int((Y > threshold).sum()) / Y.numel()"
FINITE_TEST = "    return bool(np.all(h[length - length // 2 :] == 0.0))"
MACRO = """    results = eval_peaks_dataset(targets, predictions, tolerance=tolerance, height=height, distance=distance)
    P_mean, R_mean, F_mean, _, _ = mean_PRF(results)"""
MICRO = """    tp = fp = fn = 0
    picking = 2 * tolerance + 1 if distance is None else distance
    for target, prediction in zip(targets, predictions):
        B_ref = peak_pick(target, height=height, distance=picking)
        B_pred = peak_pick(prediction, height=height, distance=picking)
        P, _, _, _, _ = eval_PRF(B_ref, B_pred, tolerance)
        hits = round(P * len(B_pred))
        tp, fp, fn = tp + hits, fp + len(B_pred) - hits, fn + len(B_ref) - hits
    P_mean = tp / (tp + fp) if tp + fp else 0.0
    R_mean = tp / (tp + fn) if tp + fn else 0.0
    F_mean = 2 * P_mean * R_mean / (P_mean + R_mean) if P_mean + R_mean else 0.0"""
BY_HAND = """    model.eval()
    device = next(model.parameters()).device
    scores = []
    with torch.no_grad():
        for i in range(len(ds)):
            x, y = ds[i]
            probabilities = torch.sigmoid(model(x.unsqueeze(0).to(device))).cpu().numpy().ravel()
            picking = 2 * tolerance + 1 if distance is None else distance
            B_ref = peak_pick(np.asarray(y).ravel(), height=height, distance=picking)
            B_pred = peak_pick(probabilities, height=height, distance=picking)
            scores.append(eval_PRF(B_ref, B_pred, tolerance)[:3])
    P_mean, R_mean, F_mean = np.mean(scores, axis=0)"""
PREDICT = "    predictions = compute_prediction_dataset(model, ds, apply_sigmoid=True)"
CLIP_THEN_STEP = """            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()"""
STEP_THEN_CLIP = """            optimizer.step()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)"""
TRAIN_SUM = """            train_total += loss.item() * len(x)  # weighted by the batch size, as the lesson does
            train_count += len(x)"""
VAL_SUM = """                val_total += loss_fn(model(x.to(device)), y.to(device)).item() * len(x)
                val_count += len(x)"""

WRONG = [
    Variant("step response instead of impulse response", "impulse",
            "    return np.asarray(filter_fn(impulse, **params), dtype=np.float64)",
            "    return np.asarray(filter_fn(np.ones(length), **params), dtype=np.float64)",
            frozenset({IMPULSE, FINITE})),
    Variant("finite when only the last sample is zero", "finite_response", FINITE_TEST,
            "    return bool(h[-1] == 0.0)", frozenset({FINITE})),
    Variant("finite-response window that starts at the middle sample (odd lengths)", "finite_response",
            FINITE_TEST, "    return bool(np.all(h[length // 2 :] == 0.0))", frozenset({FINITE})),
    Variant("finite when the tail is merely close to zero", "finite_response", FINITE_TEST,
            "    return bool(np.allclose(h[length - length // 2 :], 0.0))", frozenset({FINITE})),
    Variant("plain running sum counted as decaying", "fir_iir_answers",
            '"change_detector", "running_sum_decay"}',
            '"change_detector", "running_sum_decay", "running_sum"}', frozenset({FIR_IIR})),
    Variant("change detector with r = 1 counted as infinite (|r| < 1 read as necessary)",
            "fir_iir_answers", ', "change_detector_r1"}', "}", frozenset({FIR_IIR})),
    Variant("inverted weight", "pos_weight", WEIGHT_FORMULA,
            "    pos_weight = pos_frac / (1.0 - pos_frac + eps)",
            frozenset({POS_WEIGHT, WEIGHTED_LOSS, TRAINING, QUALITY})),
    # Differs from the lesson's max(pos_frac, eps) only without positives, which no dataset of 2.2 has
    Variant("no epsilon", "pos_weight", WEIGHT_FORMULA,
            "    pos_weight = (1.0 - pos_frac) / pos_frac", frozenset({POS_WEIGHT})),
    Variant("mean of soft targets instead of fraction above threshold", "pos_weight", POS_FRAC,
            "    pos_frac = float(Y.float().mean())",
            frozenset({POS_WEIGHT, WEIGHTED_LOSS, TRAINING})),
    Variant("micro instead of macro averaging", "evaluate", MACRO, MICRO,
            frozenset({EVALUATION, TRAINING})),
    Variant("distance ignored", "evaluate",
            "height=height, distance=distance)", "height=height, distance=None)",
            frozenset({EVALUATION, TRAINING})),
    Variant("sigmoid applied twice", "evaluate", PREDICT,
            PREDICT + "\n    predictions = 1.0 / (1.0 + np.exp(-predictions))",
            frozenset({EVALUATION, TRAINING})),
    Variant("zero_grad missing", "train", "            optimizer.zero_grad()\n", "",
            frozenset({TRAINING})),
    Variant("model left in train mode", "train", "        model.eval()\n        val_total",
            "        val_total", frozenset({TRAINING})),
    Variant("validation data used for training", "train", "        for x, y in train_loader:",
            "        for x, y in list(train_loader) + list(val_loader):", frozenset({TRAINING})),
    Variant("validation scores measured on the training data", "train",
            "val_P, val_R, val_F = evaluate_model_dataset(model, val_ds,",
            "val_P, val_R, val_F = evaluate_model_dataset(model, train_ds,", frozenset({TRAINING})),
    Variant("training function that seeds itself with 0", "train", "    device = get_device()\n",
            "    seed_everything(0)\n    device = get_device()\n", frozenset({TRAINING})),
    Variant("gradients clipped after optimizer.step()", "train", CLIP_THEN_STEP, STEP_THEN_CLIP,
            frozenset({TRAINING})),
    # An even length whose only non-zero sample of the inspected half is its first (index length // 2)
    Variant("finite-response window one sample short (even lengths)", "finite_response", FINITE_TEST,
            "    return bool(np.all(h[length // 2 + 1 :] == 0.0))", frozenset({FINITE})),
    # The window's length decides: a second, independent case beside the echo (a delay line)
    Variant("finite response always judged on 64 samples", "finite_response", FINITE_TEST,
            "    h = impulse_response(filter_fn, 64, **params)\n    return bool(np.all(h[32:] == 0.0))",
            frozenset({FINITE})),
    # The default distance 2 * tolerance + 1, caught without the ValueError of tolerance 0
    Variant("default distance 2 * tolerance (at least 1)", "evaluate", "    results = eval_peaks_dataset(",
            "    distance = max(1, 2 * tolerance) if distance is None else distance\n"
            "    results = eval_peaks_dataset(", frozenset({EVALUATION, TRAINING})),
    # The lab's former formula, which the lesson does not use
    Variant("pos_weight with epsilon added to the fraction", "pos_weight", WEIGHT_FORMULA,
            "    pos_weight = (1.0 - pos_frac) / (pos_frac + eps)", frozenset({POS_WEIGHT, WEIGHTED_LOSS})),
    # A stated rule: the losses of an epoch are averaged over its sequences, as the lesson does
    Variant("batch losses averaged without their sizes", "train", TRAIN_SUM,
            "            train_total += loss.item()\n            train_count += 1",
            frozenset({TRAINING}),
            edits=(("train", VAL_SUM, "                val_total += loss_fn(model(x.to(device)), y.to(device)).item()\n"
                                      "                val_count += 1"),)),
]

CORRECT = [
    Variant("finite response from the last non-zero index", "finite_response", FINITE_TEST,
            "    nonzero = np.flatnonzero(h)\n"
            "    return bool(len(nonzero) == 0 or nonzero[-1] < length - length // 2)"),
    Variant("finite-response tail indexed from the end", "finite_response", FINITE_TEST,
            "    return not np.any(h[-(length // 2):])"),
    Variant("pos_frac as the float64 mean of the mask", "pos_weight", POS_FRAC,
            "    pos_frac = float((Y > threshold).double().mean())"),
    Variant("pos_weight with NumPy", "pos_weight",
            "    Y = torch.as_tensor(Y)\n" + POS_FRAC,
            "    Y = Y.detach().cpu().numpy() if isinstance(Y, torch.Tensor) else np.asarray(Y)\n"
            "    pos_frac = np.count_nonzero(Y > threshold) / Y.size"),
    Variant("evaluation written by hand, sequence by sequence", "evaluate",
            PREDICT + "\n", "",
            edits=(("evaluate", MACRO, BY_HAND),
                   ("evaluate", "    targets = np.stack(", "    _unused = np.stack("))),
    Variant("training loss averaged over sequences with np.average", "train", TRAIN_SUM,
            "            train_total += loss.item() * len(x)\n            train_count += len(x)\n"
            "            sizes.append(len(x))\n            batch_losses.append(loss.item())",
            edits=(("train", "        train_total, train_count = 0.0, 0\n",
                    "        train_total, train_count = 0.0, 0\n        sizes, batch_losses = [], []\n"),
                   ("train", '"train_loss": train_total / train_count,',
                    '"train_loss": float(np.average(batch_losses, weights=sizes)),'))),
]


scores, test_variant_loses_points_exactly_where_it_is_wrong, test_enough_variants = variant_tests(
    LAB, WRONG, CORRECT, least_wrong=19, least_correct=6,
    under_load=True,  # the training tests' verdicts must not depend on a busy machine
)
# The new correct alternative keeps full marks under five salts: the course's and these four
SALT_SENSITIVE = [variant for variant in CORRECT if variant.name == "training loss averaged over sequences with np.average"]
test_verdicts_hold_under_other_salts = variants_under_salts(LAB, SALT_SENSITIVE,
                                                            salts=("term-a", "term-b", "term-c", "term-d"))
